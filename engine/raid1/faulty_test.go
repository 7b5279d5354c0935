package raid1

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/malloc"
)

// errInjected is what faulty returns when told to fail.
var errInjected = errors.New("injected I/O error")

// faulty is a fault injector around a real device: it can fail reads or
// writes on demand, hold writes until released, and counts what reached
// the device below.
type faulty struct {
	bdev.Device
	failReads  atomic.Bool
	failWrites atomic.Bool // writes, zeroes, unmap and flush

	mu   sync.Mutex
	gate chan struct{} // when not nil, writes wait for it to close
	// parked counts writes waiting at the gate.
	parked atomic.Int32

	reads, writes atomic.Int64 // attempts, failed or not

	remote bool // what it says as a bdev.Remote
}

// Remote reports what the test set: the raid reads remote members last.
func (f *faulty) Remote() bool { return f.remote }

func newFaulty(t testing.TB, size int64) *faulty {
	t.Helper()
	d, err := malloc.New(uint64(size/512), 512)
	if err != nil {
		t.Fatal(err)
	}
	return &faulty{Device: d}
}

// hold makes later writes wait until release.
func (f *faulty) hold() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *faulty) release() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
	f.mu.Unlock()
}

func (f *faulty) enterWrite() error {
	f.writes.Add(1)
	f.mu.Lock()
	g := f.gate
	f.mu.Unlock()
	if g != nil {
		f.parked.Add(1)
		<-g
		f.parked.Add(-1)
	}
	if f.failWrites.Load() {
		return errInjected
	}
	return nil
}

func (f *faulty) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	if f.failReads.Load() {
		return 0, errInjected
	}
	return f.Device.ReadAt(p, off)
}

func (f *faulty) WriteAt(p []byte, off int64) (int, error) {
	if err := f.enterWrite(); err != nil {
		return 0, err
	}
	return f.Device.WriteAt(p, off)
}

func (f *faulty) WriteZeroes(off, length int64) error {
	if err := f.enterWrite(); err != nil {
		return err
	}
	return f.Device.WriteZeroes(off, length)
}

func (f *faulty) Unmap(off, length int64) error {
	if err := f.enterWrite(); err != nil {
		return err
	}
	return f.Device.Unmap(off, length)
}

func (f *faulty) Flush() error {
	if err := f.enterWrite(); err != nil {
		return err
	}
	return f.Device.Flush()
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// held returns the number of requests waiting at the raid's gate.
func (r *Raid) heldCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}
