package raid1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

func (r *Raid) joiningCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.joining
}

// TestJoinDuringInflightWrite is the race a naive join loses: a write has
// been sent to the old members when a new member joins, and is
// acknowledged after AddMember returned. Every write acknowledged after the
// join must be on the new member.
func TestJoinDuringInflightWrite(t *testing.T) {
	r, devs := newRaid(t, 1, Options{})
	devs[0].hold()
	var joined atomic.Bool
	type ack struct {
		off      int64
		data     []byte
		afterAdd bool
		err      error
	}
	acks := make(chan ack, 2)
	write := func(off int64, seed uint64) {
		p := pattern(4096, seed)
		_, err := r.WriteAt(p, off)
		acks <- ack{off, p, joined.Load(), err}
	}
	go write(0, 1)
	eventually(t, "the first write to park", func() bool { return devs[0].parked.Load() == 1 })

	nd := newFaulty(t, testSize)
	// Writes to the new member wait until the join has returned, so that
	// at least one write is acknowledged after it.
	nd.hold()
	added := make(chan error, 1)
	go func() {
		err := r.AddMember(Member{Name: "new", Dev: nd})
		joined.Store(true)
		added <- err
	}()
	eventually(t, "AddMember to be under way", func() bool { return r.joiningCount() > 0 || joined.Load() })
	// A write that arrives during the join.
	go write(8192, 2)
	eventually(t, "the second write to be held or sent", func() bool {
		return r.heldCount() > 0 || devs[0].parked.Load() == 2 || joined.Load()
	})
	devs[0].release()
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	nd.release()
	afterAdd := 0
	for range 2 {
		a := <-acks
		if a.err != nil {
			t.Fatal(a.err)
		}
		if !a.afterAdd {
			continue
		}
		afterAdd++
		got := make([]byte, len(a.data))
		if _, err := nd.ReadAt(got, a.off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, a.data) {
			t.Errorf("write at %d acknowledged after the join is missing on the new member", a.off)
		}
	}
	if afterAdd == 0 {
		t.Fatal("no write was acknowledged after the join; the test did not test anything")
	}
}

// TestMembershipChurnUnderIO runs writers and readers on their own regions
// while a member joins and another leaves. Afterwards the remaining RW
// member holds every acknowledged write, and the joined member holds every
// block whose last write was acknowledged after it joined.
func TestMembershipChurnUnderIO(t *testing.T) {
	const (
		workers = 8
		opsEach = 300
		bs      = 512
	)
	r, devs := newRaid(t, 2, Options{})
	blocks := testSize / bs
	perWorker := blocks / workers

	type last struct {
		data     []byte
		afterAdd bool
	}
	model := make([]last, blocks) // each worker writes only its own blocks
	var joined atomic.Bool
	var progress atomic.Int64
	quarter, half := make(chan struct{}), make(chan struct{})
	nd := newFaulty(t, testSize)

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			buf := make([]byte, bs)
			for i := range opsEach {
				b := w*perWorker + rng.IntN(perWorker)
				p := make([]byte, bs)
				binary.LittleEndian.PutUint64(p, uint64(w)<<32|uint64(i))
				copy(p[8:], pattern(bs-8, uint64(w*opsEach+i)))
				if _, err := r.WriteAt(p, int64(b*bs)); err != nil {
					t.Errorf("worker %d write %d: %v", w, i, err)
					return
				}
				model[b] = last{p, joined.Load()}
				switch progress.Add(1) {
				case workers * opsEach / 4:
					close(quarter)
				case workers * opsEach / 2:
					close(half)
				}
				// Read back a block of ours: it holds our last write.
				rb := w*perWorker + rng.IntN(perWorker)
				if _, err := r.ReadAt(buf, int64(rb*bs)); err != nil {
					t.Errorf("worker %d read: %v", w, err)
					return
				}
				want := model[rb].data
				if want == nil {
					want = make([]byte, bs)
				}
				if !bytes.Equal(buf, want) {
					t.Errorf("worker %d: block %d does not hold its last acknowledged write", w, rb)
					return
				}
			}
		}()
	}
	churn := make(chan error, 1)
	writersDone := make(chan struct{})
	reached := func(step chan struct{}) bool {
		select {
		case <-step:
			return true
		case <-writersDone:
			churn <- errors.New("writers stopped before the membership change")
			return false
		}
	}
	go func() {
		if !reached(quarter) {
			return
		}
		if err := r.AddMember(Member{Name: "new", Dev: nd}); err != nil {
			churn <- err
			return
		}
		joined.Store(true)
		if !reached(half) {
			return
		}
		churn <- r.RemoveMember("m0")
	}()
	wg.Wait()
	close(writersDone)
	if err := <-churn; err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	names := fmt.Sprint(r.Members())
	if len(r.Members()) != 2 || info(t, r, "m1").State != StateRW || info(t, r, "new").State != StateWO {
		t.Fatalf("members %s, want m1 RW and new WO", names)
	}
	rw := contents(t, devs[1], testSize)
	wo := contents(t, nd, testSize)
	checked := 0
	for b, l := range model {
		want := l.data
		if want == nil {
			want = make([]byte, bs)
		}
		if !bytes.Equal(rw[b*bs:(b+1)*bs], want) {
			t.Errorf("block %d: remaining RW member lacks the last acknowledged write", b)
		}
		if l.afterAdd {
			checked++
			if !bytes.Equal(wo[b*bs:(b+1)*bs], want) {
				t.Errorf("block %d: joined member lacks a write acknowledged after it joined", b)
			}
		}
	}
	if checked == 0 {
		t.Error("no block was written after the join")
	}
	if m := info(t, r, "m1"); m.Inflight != 0 || m.Errors != 0 {
		t.Errorf("m1 after the run: %+v", m)
	}
}
