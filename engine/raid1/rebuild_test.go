package raid1

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRebuildUnderWrites: writes that race with the copy end up on the
// rebuilt member exactly as on the others, and the member becomes RW.
func TestRebuildUnderWrites(t *testing.T) {
	old := rebuildChunk
	rebuildChunk = 8192 // many chunks over the 256 KiB test volume
	t.Cleanup(func() { rebuildChunk = old })
	for range 3 { // races: a few tries
		r, devs := newRaid(t, 2, Options{})
		if _, err := r.WriteAt(pattern(testSize, 1), 0); err != nil {
			t.Fatal(err)
		}
		nd := newFaulty(t, testSize)
		if err := r.AddMember(Member{Name: "new", Dev: nd}); err != nil {
			t.Fatal(err)
		}
		{
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var writes atomic.Int64
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for {
						select {
						case <-stop:
							return
						default:
						}
						n := int64(512 * (1 + rng.IntN(64)))
						off := int64(512 * rng.IntN(int((testSize-n)/512)))
						if _, err := r.WriteAt(pattern(int(n), rng.Uint64()), off); err != nil {
							t.Error(err)
							return
						}
						writes.Add(1)
					}
				}()
			}
			var last atomic.Int64
			err := r.Rebuild(context.Background(), "new", func(done int64) { last.Store(done) })
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if last.Load() != testSize {
				t.Errorf("progress ended at %d, want %d", last.Load(), testSize)
			}
		}
		if m := info(t, r, "new"); m.State != StateRW {
			t.Fatalf("rebuilt member is %s, want RW", m.State)
		}
		want := contents(t, devs[0], testSize)
		if !bytes.Equal(contents(t, devs[1], testSize), want) || !bytes.Equal(contents(t, nd, testSize), want) {
			t.Fatal("members differ after a rebuild under writes")
		}
	}
}

// TestRebuildStops: a target that is not a WO member is refused, and a
// closed raid stops the copy.
func TestRebuildStops(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(r *Raid) // after "new" joined WO
		want    error
	}{
		{"removed", func(r *Raid) { _ = r.RemoveMember("new") }, ErrRebuildStopped},
		{"already RW", func(r *Raid) { _ = r.SetMemberState("new", StateRW) }, ErrRebuildStopped},
		{"failed", func(r *Raid) { _ = r.SetMemberState("new", StateERR) }, ErrRebuildStopped},
		{"closed", func(r *Raid) { _ = r.Close() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRaid(t, 1, Options{})
			if err := r.AddMember(Member{Name: "new", Dev: newFaulty(t, testSize)}); err != nil {
				t.Fatal(err)
			}
			tt.prepare(r)
			err := r.Rebuild(context.Background(), "new", nil)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Rebuild = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRebuildChunkHoldsWrites: while a chunk is being copied, a user write
// to the same range waits (it would otherwise reach the source after the
// copy read it and could then be overwritten on the target by the stale
// copy), and both end up identical on every member.
func TestRebuildChunkHoldsWrites(t *testing.T) {
	r, devs := newRaid(t, 1, Options{})
	if _, err := r.WriteAt(pattern(testSize, 1), 0); err != nil {
		t.Fatal(err)
	}
	nd := newFaulty(t, testSize)
	if err := r.AddMember(Member{Name: "new", Dev: nd}); err != nil {
		t.Fatal(err)
	}
	nd.hold()
	rebuilt := make(chan error, 1)
	go func() { rebuilt <- r.Rebuild(context.Background(), "new", nil) }()
	waitFor(t, func() bool { return nd.parked.Load() == 1 })
	before := devs[0].writes.Load()
	wrote := make(chan error, 1)
	go func() {
		_, err := r.WriteAt(pattern(4096, 9), 4096)
		wrote <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if n := devs[0].writes.Load() - before; n != 0 {
		t.Errorf("a write reached the source while its range was being copied (%d writes)", n)
	}
	nd.release()
	if err := <-rebuilt; err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(contents(t, nd, testSize), contents(t, devs[0], testSize)) {
		t.Fatal("rebuilt member differs from the source")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
