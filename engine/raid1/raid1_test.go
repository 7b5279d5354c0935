package raid1

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/malloc"
)

const testSize = 256 << 10

func pattern(n int, seed uint64) []byte {
	p := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// newRaid builds a raid over n faulty devices named m0, m1, ...
func newRaid(t testing.TB, n int, opts Options) (*Raid, []*faulty) {
	t.Helper()
	var members []Member
	var devs []*faulty
	for i := range n {
		f := newFaulty(t, testSize)
		devs = append(devs, f)
		members = append(members, Member{Name: fmt.Sprintf("m%d", i), Dev: f})
	}
	r, err := New("vol", members, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, devs
}

func contents(t testing.TB, d bdev.Device, size int64) []byte {
	t.Helper()
	b := make([]byte, size)
	if _, err := d.ReadAt(b, 0); err != nil {
		t.Fatalf("read whole device: %v", err)
	}
	return b
}

func info(t testing.TB, r *Raid, name string) MemberInfo {
	t.Helper()
	for _, m := range r.Members() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no member %s in %+v", name, r.Members())
	return MemberInfo{}
}

func TestNewValidates(t *testing.T) {
	dev := func(blocks uint64, bs int) bdev.Device {
		d, err := malloc.New(blocks, bs)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name    string
		raid    string
		members []Member
	}{
		{"no members", "vol", nil},
		{"empty raid name", "", []Member{{Name: "a", Dev: dev(8, 512)}}},
		{"empty member name", "vol", []Member{{Name: "", Dev: dev(8, 512)}}},
		{"nil device", "vol", []Member{{Name: "a", Dev: nil}}},
		{"duplicate member", "vol", []Member{{Name: "a", Dev: dev(8, 512)}, {Name: "a", Dev: dev(8, 512)}}},
		{"block sizes differ", "vol", []Member{{Name: "a", Dev: dev(8, 512)}, {Name: "b", Dev: dev(8, 4096)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.raid, tt.members, Options{}); err == nil {
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestSizeIsSmallestMember(t *testing.T) {
	a, _ := malloc.New(64, 512)
	b, _ := malloc.New(40, 512)
	r, err := New("vol", []Member{{Name: "a", Dev: a}, {Name: "b", Dev: b}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != 40*512 || r.BlockSize() != 512 {
		t.Fatalf("size %d block %d, want %d and 512", r.Size(), r.BlockSize(), 40*512)
	}
	if _, err := r.WriteAt(make([]byte, 512), 40*512); !errors.Is(err, bdev.ErrOutOfRange) {
		t.Errorf("write past the smallest member: %v, want ErrOutOfRange", err)
	}
	small, _ := malloc.New(39, 512)
	if err := r.AddMember(Member{Name: "c", Dev: small}); err == nil {
		t.Error("AddMember of a smaller device succeeded")
	}
	other, _ := malloc.New(40, 4096)
	if err := r.AddMember(Member{Name: "d", Dev: other}); err == nil {
		t.Error("AddMember with another block size succeeded")
	}
	if err := r.AddMember(Member{Name: "a", Dev: small}); err == nil {
		t.Error("AddMember with a taken name succeeded")
	}
}

// TestWritesReachAllMembers mixes writes, zeroes and unmaps and compares
// every member with the model byte for byte.
func TestWritesReachAllMembers(t *testing.T) {
	r, devs := newRaid(t, 3, Options{})
	model := make([]byte, testSize)
	rng := rand.New(rand.NewPCG(42, 0))
	for i := range 200 {
		off := int64(rng.IntN(testSize/512)) * 512
		n := int64(1+rng.IntN(16)) * 512
		n = min(n, testSize-off)
		switch rng.IntN(4) {
		case 0:
			if err := r.WriteZeroes(off, n); err != nil {
				t.Fatal(err)
			}
			clear(model[off : off+n])
		case 1:
			if err := r.Unmap(off, n); err != nil {
				t.Fatal(err)
			}
			clear(model[off : off+n]) // malloc unmaps to zeros
		default:
			p := pattern(int(n), uint64(i))
			if _, err := r.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
			copy(model[off:], p)
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, d := range devs {
		if !bytes.Equal(contents(t, d, testSize), model) {
			t.Errorf("member %d differs from what was written", i)
		}
	}
	if !bytes.Equal(contents(t, r, testSize), model) {
		t.Error("raid reads differ from what was written")
	}
	for _, m := range r.Members() {
		if m.State != StateRW || m.Errors != 0 || m.Inflight != 0 || m.Flushes != 1 {
			t.Errorf("member %+v, want RW, no errors, idle, one flush", m)
		}
	}
}

func TestFailingMember(t *testing.T) {
	tests := []struct {
		name string
		// fail arms the fault on dev.
		fail func(dev *faulty)
		// op is the request that meets the fault; it must succeed.
		op func(r *Raid) error
	}{
		{"write", func(d *faulty) { d.failWrites.Store(true) }, func(r *Raid) error {
			_, err := r.WriteAt(pattern(4096, 1), 8192)
			return err
		}},
		{"flush", func(d *faulty) { d.failWrites.Store(true) }, func(r *Raid) error { return r.Flush() }},
		{"write zeroes", func(d *faulty) { d.failWrites.Store(true) }, func(r *Raid) error { return r.WriteZeroes(0, 4096) }},
		{"read", func(d *faulty) { d.failReads.Store(true) }, func(r *Raid) error {
			// Reads rotate over members: one of these meets the fault.
			for range 4 {
				if _, err := r.ReadAt(make([]byte, 4096), 0); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed := make(chan string, 4)
			r, devs := newRaid(t, 2, Options{OnMemberFailed: func(name string, err error) {
				if !errors.Is(err, errInjected) {
					t.Errorf("OnMemberFailed(%s) with %v, want the injected error", name, err)
				}
				failed <- name
			}})
			tt.fail(devs[1])
			if err := tt.op(r); err != nil {
				t.Fatalf("request with one failing member: %v", err)
			}
			if got := <-failed; got != "m1" {
				t.Fatalf("OnMemberFailed(%s), want m1", got)
			}
			m1 := info(t, r, "m1")
			if m1.State != StateERR || m1.Err == "" || m1.Errors != 1 {
				t.Fatalf("failing member %+v, want ERR with its error", m1)
			}
			// The volume keeps working without touching the failed member.
			reads, writes := devs[1].reads.Load(), devs[1].writes.Load()
			p := pattern(8192, 9)
			if _, err := r.WriteAt(p, 0); err != nil {
				t.Fatal(err)
			}
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
			for range 4 {
				got := make([]byte, len(p))
				if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, p) {
					t.Fatalf("read after failure: err=%v equal=%v", err, bytes.Equal(got, p))
				}
			}
			if devs[1].reads.Load() != reads || devs[1].writes.Load() != writes {
				t.Error("the ERR member still receives I/O")
			}
			if !bytes.Equal(contents(t, devs[0], 8192), p) {
				t.Error("the healthy member lacks the write")
			}
			if !r.Online() {
				t.Error("raid offline with one RW member")
			}
			select {
			case name := <-failed:
				t.Errorf("OnMemberFailed called again for %s", name)
			default:
			}
		})
	}
}

func TestAllMembersFailed(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	for _, d := range devs {
		d.failWrites.Store(true)
		d.failReads.Store(true)
	}
	if _, err := r.WriteAt(make([]byte, 512), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write with every member failing: %v, want EIO", err)
	}
	if r.Online() {
		t.Error("raid online with every member ERR")
	}
	if _, err := r.ReadAt(make([]byte, 512), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("read with no RW member: %v, want EIO", err)
	}
	if err := r.Flush(); !errors.Is(err, syscall.EIO) {
		t.Errorf("flush with no RW member: %v, want EIO", err)
	}
	for _, m := range r.Members() {
		if m.State != StateERR {
			t.Errorf("member %s is %s, want ERR", m.Name, m.State)
		}
	}
}

func TestReadFailsOverThenEIO(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	p := pattern(4096, 3)
	if _, err := r.WriteAt(p, 0); err != nil {
		t.Fatal(err)
	}
	devs[0].failReads.Store(true)
	devs[1].failReads.Store(true)
	if _, err := r.ReadAt(make([]byte, 4096), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read with both members failing: %v, want EIO", err)
	}
	if devs[0].reads.Load() != 1 || devs[1].reads.Load() != 1 {
		t.Errorf("reads tried %d and %d times, want each member once", devs[0].reads.Load(), devs[1].reads.Load())
	}
}

func TestWOMemberFailingFailsWrite(t *testing.T) {
	// A write taken only by a WO member is not acknowledged: that member
	// does not hold the volume.
	r, devs := newRaid(t, 1, Options{})
	wo := newFaulty(t, testSize)
	if err := r.AddMember(Member{Name: "wo", Dev: wo}); err != nil {
		t.Fatal(err)
	}
	devs[0].failWrites.Store(true)
	if _, err := r.WriteAt(make([]byte, 512), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write taken only by a WO member: %v, want EIO", err)
	}
	if info(t, r, "wo").State != StateWO {
		t.Error("the WO member that succeeded changed state")
	}
}

func TestReadSpreading(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	const reads = 100
	buf := make([]byte, 4096)
	for range reads {
		if _, err := r.ReadAt(buf, 0); err != nil {
			t.Fatal(err)
		}
	}
	a, b := info(t, r, "m0").Reads, info(t, r, "m1").Reads
	if a+b != reads {
		t.Fatalf("members served %d+%d reads, want %d in all", a, b, reads)
	}
	if a < reads/4 || b < reads/4 {
		t.Errorf("reads not spread: %d and %d", a, b)
	}
	if devs[0].reads.Load() != int64(a) || devs[1].reads.Load() != int64(b) {
		t.Error("counters disagree with the devices")
	}
}

// TestReadAvoidsBusyMember holds a write on one member so it has a request
// outstanding: reads go to the idle one.
func TestReadAvoidsBusyMember(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	devs[0].hold()
	done := make(chan error, 1)
	go func() {
		_, err := r.WriteAt(make([]byte, 512), 0)
		done <- err
	}()
	eventually(t, "the write to park on m0 and finish on m1", func() bool {
		return devs[0].parked.Load() == 1 && info(t, r, "m1").Inflight == 0
	})
	for range 10 {
		if _, err := r.ReadAt(make([]byte, 512), 4096); err != nil {
			t.Fatal(err)
		}
	}
	devs[0].release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if devs[0].reads.Load() != 0 || devs[1].reads.Load() != 10 {
		t.Errorf("busy member served %d reads, idle one %d; want 0 and 10", devs[0].reads.Load(), devs[1].reads.Load())
	}
}

func TestAddMemberWriteOnly(t *testing.T) {
	r, _ := newRaid(t, 1, Options{})
	old := pattern(8192, 1)
	if _, err := r.WriteAt(old, 0); err != nil {
		t.Fatal(err)
	}
	nd := newFaulty(t, testSize)
	if err := r.AddMember(Member{Name: "new", Dev: nd}); err != nil {
		t.Fatal(err)
	}
	if m := info(t, r, "new"); m.State != StateWO {
		t.Fatalf("new member is %s, want WO", m.State)
	}
	fresh := pattern(8192, 2)
	if _, err := r.WriteAt(fresh, 8192); err != nil {
		t.Fatal(err)
	}
	got := contents(t, nd, 16384)
	if !bytes.Equal(got[8192:], fresh) {
		t.Error("WO member lacks a write made after it joined")
	}
	if !bytes.Equal(got[:8192], make([]byte, 8192)) {
		t.Error("WO member holds data written before it joined (nothing copied it)")
	}
	direct := nd.reads.Load()
	for range 20 {
		if _, err := r.ReadAt(make([]byte, 512), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := nd.reads.Load() - direct; n != 0 {
		t.Fatalf("WO member served %d reads", n)
	}
	// After a "rebuild" the member becomes RW and serves reads.
	if _, err := nd.WriteAt(old, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.SetMemberState("new", StateRW); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		got := make([]byte, 16384)
		if _, err := r.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append(append([]byte{}, old...), fresh...)) {
			t.Fatal("read after promotion differs")
		}
	}
	if nd.reads.Load() == direct {
		t.Error("member made RW serves no reads")
	}
}

func TestSetMemberState(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	if err := r.SetMemberState("m1", "bogus"); err == nil {
		t.Error("unknown state accepted")
	}
	if err := r.SetMemberState("nope", StateRW); err == nil {
		t.Error("unknown member accepted")
	}
	if err := r.SetMemberState("m1", StateERR); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt(make([]byte, 512), 0); err != nil {
		t.Fatal(err)
	}
	if devs[1].writes.Load() != 0 {
		t.Error("member set to ERR got a write")
	}
	if err := r.SetMemberState("m1", StateWO); err != nil {
		t.Fatal(err)
	}
	if m := info(t, r, "m1"); m.State != StateWO || m.Err != "" {
		t.Errorf("revived member %+v, want WO without error", m)
	}
}

func TestRemoveMember(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	if err := r.RemoveMember("nope"); err == nil {
		t.Error("removing an unknown member succeeded")
	}
	if err := r.RemoveMember("m0"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt(pattern(512, 1), 0); err != nil {
		t.Fatal(err)
	}
	if devs[0].writes.Load() != 0 {
		t.Error("removed member got a write")
	}
	if len(r.Members()) != 1 {
		t.Errorf("members %+v, want one", r.Members())
	}
	if err := r.RemoveMember("m1"); err != nil {
		t.Fatal(err)
	}
	if r.Online() {
		t.Error("raid with no members is online")
	}
	if _, err := r.ReadAt(make([]byte, 512), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("read with no members: %v, want EIO", err)
	}
	// Removal never closes the device: it belongs to the caller.
	if _, err := devs[0].ReadAt(make([]byte, 512), 0); err != nil {
		t.Errorf("removed member's device unusable: %v", err)
	}
}

// TestRemoveWaitsForInflight parks a write on the member being removed:
// RemoveMember returns only after that write has finished.
func TestRemoveWaitsForInflight(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	devs[1].hold()
	wrote := make(chan error, 1)
	go func() {
		_, err := r.WriteAt(pattern(512, 4), 0)
		wrote <- err
	}()
	eventually(t, "the write to park on m1", func() bool { return devs[1].parked.Load() == 1 })
	removed := make(chan error, 1)
	go func() { removed <- r.RemoveMember("m1") }()
	eventually(t, "m1 to leave the member list", func() bool { return len(r.Members()) == 1 })
	select {
	case err := <-removed:
		t.Fatalf("RemoveMember returned (%v) while its write was in flight", err)
	default:
	}
	devs[1].release()
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(contents(t, devs[0], 512), pattern(512, 4)) {
		t.Error("remaining member lacks the write")
	}
}

// TestSuspend holds new requests while suspended, and waits for the ones
// in flight before returning.
func TestSuspend(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	// A write in flight keeps Suspend from completing.
	devs[0].hold()
	wrote := make(chan error, 1)
	go func() {
		_, err := r.WriteAt(pattern(512, 1), 0)
		wrote <- err
	}()
	eventually(t, "the write to park", func() bool { return devs[0].parked.Load() == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	suspended := make(chan error, 1)
	go func() { suspended <- r.Suspend(ctx) }()
	eventually(t, "the raid to report suspended", r.Suspended)
	cancel()
	if err := <-suspended; err == nil {
		t.Fatal("Suspend succeeded while a write was in flight")
	}
	if r.Suspended() {
		t.Fatal("a Suspend that gave up left the raid suspended")
	}
	devs[0].release()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}

	// Idle now: Suspend completes, and new I/O waits at the gate.
	if err := r.Suspend(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.Suspend(t.Context()); err == nil {
		t.Error("a second Suspend succeeded")
	}
	writesBefore := devs[0].writes.Load() + devs[1].writes.Load()
	done := make(chan error, 2)
	go func() {
		_, err := r.WriteAt(pattern(512, 2), 512)
		done <- err
	}()
	go func() {
		_, err := r.ReadAt(make([]byte, 512), 0)
		done <- err
	}()
	eventually(t, "both requests to be held", func() bool { return r.heldCount() == 2 })
	if n := devs[0].writes.Load() + devs[1].writes.Load(); n != writesBefore {
		t.Fatal("a write reached the members while suspended")
	}
	if devs[0].reads.Load()+devs[1].reads.Load() != 0 {
		t.Fatal("a read reached the members while suspended")
	}
	r.Resume()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(contents(t, devs[1], 1024)[512:], pattern(512, 2)) {
		t.Error("write held during suspend did not land after resume")
	}
}

func TestClose(t *testing.T) {
	r, devs := newRaid(t, 2, Options{})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt(make([]byte, 512), 0); !errors.Is(err, bdev.ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
	if err := r.Close(); !errors.Is(err, bdev.ErrClosed) {
		t.Errorf("second close: %v, want ErrClosed", err)
	}
	if err := r.AddMember(Member{Name: "x", Dev: newFaulty(t, testSize)}); !errors.Is(err, bdev.ErrClosed) {
		t.Errorf("AddMember after close: %v, want ErrClosed", err)
	}
	if _, err := devs[0].WriteAt(make([]byte, 512), 0); err != nil {
		t.Errorf("closing the raid closed a member: %v", err)
	}
}
