package raid1

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/malloc"
)

// reorder is a member that applies a write carrying the byte `later` only
// after a write carrying `first` has been applied to it (or a second has
// passed): it makes one member see two concurrent writes in the opposite
// order from the other member.
type reorder struct {
	bdev.Device
	first, later byte
	mu           sync.Mutex
	done         chan struct{} // closed once `first` was applied
}

func (d *reorder) WriteAt(p []byte, off int64) (int, error) {
	if len(p) > 0 && p[0] == d.later {
		select {
		case <-d.done:
		case <-time.After(time.Second):
		}
	}
	n, err := d.Device.WriteAt(p, off)
	if len(p) > 0 && p[0] == d.first {
		d.mu.Lock()
		select {
		case <-d.done:
		default:
			close(d.done)
		}
		d.mu.Unlock()
	}
	return n, err
}

// TestOverlappingWritesKeepMembersEqual sends two concurrent writes to the
// same block while the members would apply them in opposite orders. The
// raid must serialise them so that both members end with the same data.
func TestOverlappingWritesKeepMembersEqual(t *testing.T) {
	const size = 1 << 20
	mk := func(first, later byte) *reorder {
		d, err := malloc.New(size/512, 512)
		if err != nil {
			t.Fatal(err)
		}
		return &reorder{Device: d, first: first, later: later, done: make(chan struct{})}
	}
	m0, m1 := mk('B', 'A'), mk('A', 'B') // m0 wants B first, m1 wants A first
	r, err := New("vol", []Member{{Name: "m0", Dev: m0}, {Name: "m1", Dev: m1}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	var wg sync.WaitGroup
	for _, c := range []byte{'A', 'B'} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.WriteAt(bytes.Repeat([]byte{c}, 4096), 8192); err != nil {
				t.Errorf("write %c: %v", c, err)
			}
		}()
	}
	wg.Wait()

	b0, b1 := make([]byte, 4096), make([]byte, 4096)
	if _, err := m0.ReadAt(b0, 8192); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.ReadAt(b1, 8192); err != nil {
		t.Fatal(err)
	}
	if b0[0] != b1[0] {
		t.Fatalf("members diverged after overlapping writes: m0 holds %c, m1 holds %c", b0[0], b1[0])
	}
}

func TestRangeLockRegions(t *testing.T) {
	var l rangeLock
	// Disjoint regions do not wait for each other.
	unlockA := l.lock(0, 4096)
	done := make(chan struct{})
	go func() {
		l.lock(1<<lockRegionShift, 4096)()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a write to another region waited for an unrelated lock")
	}
	// A range spanning the held region waits until it is unlocked.
	spanning := make(chan struct{})
	go func() {
		l.lock(4096, 2<<lockRegionShift)()
		close(spanning)
	}()
	select {
	case <-spanning:
		t.Fatal("an overlapping range did not wait for the held region")
	case <-time.After(50 * time.Millisecond):
	}
	unlockA()
	select {
	case <-spanning:
	case <-time.After(10 * time.Second):
		t.Fatal("overlapping range never got the lock")
	}
	l.lock(0, 0)() // zero length locks nothing
}
