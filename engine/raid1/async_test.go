package raid1

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// asyncFaulty is a faulty device that also starts writes asynchronously
// (bdev.AsyncWriter), as a remote replica's NBD client does; started
// counts the writes that went that way.
type asyncFaulty struct {
	*faulty
	started atomic.Int64
}

func (a *asyncFaulty) StartWriteAt(p []byte, off int64) func() (int, error) {
	a.started.Add(1)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := a.WriteAt(p, off)
		done <- result{n, err}
	}()
	return func() (int, error) {
		r := <-done
		return r.n, r.err
	}
}

// newMixedRaid builds a raid over faulty devices m0, m1, ..., those whose
// entry in async is true started asynchronously.
func newMixedRaid(t *testing.T, async []bool) (*Raid, []*faulty, []*asyncFaulty) {
	t.Helper()
	var members []Member
	var devs []*faulty
	var asyncs []*asyncFaulty
	for i, a := range async {
		f := newFaulty(t, testSize)
		devs = append(devs, f)
		m := Member{Name: fmt.Sprintf("m%d", i), Dev: f}
		if a {
			af := &asyncFaulty{faulty: f}
			asyncs = append(asyncs, af)
			m.Dev = af
		}
		members = append(members, m)
	}
	r, err := New("vol", members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, devs, asyncs
}

// TestAsyncMembers runs concurrent writes over raids whose members are
// started asynchronously, synchronously or both, and checks that every
// member ends with every write and that failures are accounted as with
// synchronous members.
func TestAsyncMembers(t *testing.T) {
	layouts := []struct {
		name  string
		async []bool
	}{
		{"two async", []bool{true, true}},
		{"sync and async", []bool{false, true}},
		{"async sync async", []bool{true, false, true}},
	}
	for _, l := range layouts {
		t.Run(l.name+"/concurrent writes", func(t *testing.T) {
			r, devs, asyncs := newMixedRaid(t, l.async)
			const writers, each, size = 8, 8, 4096 // 256 KiB: all of testSize
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						off := int64((w*each + i) * size)
						if _, err := r.WriteAt(pattern(size, uint64(off)), off); err != nil {
							t.Errorf("write at %d: %v", off, err)
							return
						}
					}
				})
			}
			wg.Wait()
			want := contents(t, devs[0], writers*each*size)
			for i := range writers * each {
				off := i * size
				if !bytes.Equal(want[off:off+size], pattern(size, uint64(off))) {
					t.Fatalf("m0 lacks the write at %d", off)
				}
			}
			for i, d := range devs[1:] {
				if !bytes.Equal(contents(t, d, writers*each*size), want) {
					t.Fatalf("m%d differs from m0", i+1)
				}
			}
			for i, a := range asyncs {
				if a.started.Load() != writers*each {
					t.Fatalf("async member %d started %d writes, want %d", i, a.started.Load(), writers*each)
				}
			}
		})
		t.Run(l.name+"/failing async member", func(t *testing.T) {
			r, devs, asyncs := newMixedRaid(t, l.async)
			asyncs[len(asyncs)-1].failWrites.Store(true)
			if _, err := r.WriteAt(pattern(4096, 1), 0); err != nil {
				t.Fatalf("write with one failing member: %v", err)
			}
			failedName := fmt.Sprintf("m%d", len(devs)-1)
			if m := info(t, r, failedName); m.State != StateERR || m.Errors != 1 {
				t.Fatalf("failing member %+v, want ERR", m)
			}
			if !bytes.Equal(contents(t, devs[0], 4096), pattern(4096, 1)) {
				t.Fatal("a healthy member lacks the write")
			}
		})
		t.Run(l.name+"/every member failing", func(t *testing.T) {
			r, devs, _ := newMixedRaid(t, l.async)
			for _, d := range devs {
				d.failWrites.Store(true)
			}
			_, err := r.WriteAt(pattern(4096, 1), 0)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("write with every member failing: %v, want EIO", err)
			}
		})
	}
}
