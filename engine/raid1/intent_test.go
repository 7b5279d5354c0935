package raid1

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testRegion splits the 256 KiB test volume into 16 regions.
const testRegion = 16 << 10

// replica is one member's data and bitmap devices; they outlive any raid
// built over them, as a replica outlives the engine that crashed.
type replica struct {
	name         string
	data, bitmap *faulty
}

func newReplicas(t testing.TB, n int) []*replica {
	t.Helper()
	var out []*replica
	for i := range n {
		rep := &replica{name: fmt.Sprintf("m%d", i), data: newFaulty(t, testSize), bitmap: newFaulty(t, 16<<10)}
		if err := FormatIntent(rep.bitmap, testSize, false); err != nil {
			t.Fatal(err)
		}
		out = append(out, rep)
	}
	return out
}

// raidOver builds a raid with a write-intent log over reps, in that order.
// Close never flushes, so dropping the raid without Flush is a crash.
func raidOver(t testing.TB, reps []*replica) *Raid {
	t.Helper()
	var ms []Member
	for _, rep := range reps {
		ms = append(ms, Member{Name: rep.name, Dev: rep.data, Bitmap: rep.bitmap})
	}
	r, err := New("vol", ms, Options{RegionSize: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func activate(t testing.TB, r *Raid, mode ActivateMode) ResyncStats {
	t.Helper()
	st, err := r.Activate(context.Background(), ActivateOptions{Mode: mode})
	if err != nil {
		t.Fatalf("activate: %v", err)
	}
	return st
}

func write(t testing.TB, r *Raid, p []byte, off int64) {
	t.Helper()
	if _, err := r.WriteAt(p, off); err != nil {
		t.Fatalf("write at %d: %v", off, err)
	}
}

// sameEverywhere fails unless every replica holds the same bytes.
func sameEverywhere(t testing.TB, reps []*replica) []byte {
	t.Helper()
	ref := contents(t, reps[0].data, testSize)
	for _, rep := range reps[1:] {
		if got := contents(t, rep.data, testSize); !bytes.Equal(got, ref) {
			t.Fatalf("%s differs from %s at byte %d", rep.name, reps[0].name, firstDiff(ref, got))
		}
	}
	return ref
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func bitmapOf(t testing.TB, rep *replica) intentImage {
	t.Helper()
	im, err := readIntent(rep.bitmap)
	if err != nil {
		t.Fatalf("%s bitmap: %v", rep.name, err)
	}
	return im
}

func dirtyRegions(im intentImage) []int64 {
	var out []int64
	im.dirtyBytes(func(off, end int64) { out = append(out, off/im.hdr.regionSize) })
	return out
}

func TestIntentRefusesWritesUntilActive(t *testing.T) {
	r := raidOver(t, newReplicas(t, 2))
	if _, err := r.WriteAt(make([]byte, 4096), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write before Activate: %v, want EIO", err)
	}
	activate(t, r, AfterCrash)
	write(t, r, pattern(4096, 1), 0)
	r.Deactivate()
	if _, err := r.WriteAt(make([]byte, 4096), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write after Deactivate: %v, want EIO", err)
	}
	if _, err := r.ReadAt(make([]byte, 4096), 0); err != nil {
		t.Fatalf("reads go on after Deactivate: %v", err)
	}
}

func TestNewNeedsBitmapsOnAllOrNone(t *testing.T) {
	reps := newReplicas(t, 2)
	_, err := New("vol", []Member{
		{Name: "a", Dev: reps[0].data, Bitmap: reps[0].bitmap},
		{Name: "b", Dev: reps[1].data},
	}, Options{})
	if err == nil {
		t.Fatal("a raid with one bitmapless member was built")
	}
	small := newFaulty(t, 4096)
	if _, err := New("vol", []Member{{Name: "a", Dev: reps[0].data, Bitmap: small}}, Options{RegionSize: 4096}); err == nil {
		t.Fatal("a bitmap device too small for the volume was accepted")
	}
}

// TestIntentDirtyBeforeData checks the log's one promise: when a write
// reaches any member's data, its region is dirty on every member's bitmap.
func TestIntentDirtyBeforeData(t *testing.T) {
	reps := newReplicas(t, 3)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	reps[1].data.hold() // the write stops at one member's data
	done := make(chan error, 1)
	go func() { _, err := r.WriteAt(pattern(4096, 2), 5*testRegion); done <- err }()
	eventually(t, "the write to reach member m1", func() bool { return reps[1].data.parked.Load() == 1 })
	for _, rep := range reps {
		if got := dirtyRegions(bitmapOf(t, rep)); len(got) != 1 || got[0] != 5 {
			t.Errorf("%s bitmap dirty regions %v while a write to region 5 is in flight, want [5]", rep.name, got)
		}
	}
	reps[1].data.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestIntentClearsAfterFlushOnlyWhenQuiet(t *testing.T) {
	reps := newReplicas(t, 2)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	write(t, r, pattern(4096, 1), 0)
	write(t, r, pattern(4096, 2), 3*testRegion)
	if n := r.Intent().DirtyRegions; n != 2 {
		t.Fatalf("%d dirty regions after two writes, want 2", n)
	}
	// A region is cleared by the second flush after its last write: one
	// flush interval of quiet first.
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dirtyRegions(bitmapOf(t, reps[0])); len(got) != 2 {
		t.Errorf("dirty regions %v after one flush, want [0 3] still", got)
	}
	// A write still in flight when the next flush starts keeps its region.
	reps[0].data.hold()
	done := make(chan error, 1)
	go func() { _, err := r.WriteAt(pattern(4096, 3), 7*testRegion); done <- err }()
	eventually(t, "the write to park", func() bool { return reps[0].data.parked.Load() == 1 })
	flushed := make(chan error, 1)
	go func() { flushed <- r.Flush() }()
	eventually(t, "the flush to park", func() bool { return reps[0].data.parked.Load() == 2 })
	reps[0].data.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	for _, rep := range reps {
		if got := dirtyRegions(bitmapOf(t, rep)); len(got) != 1 || got[0] != 7 {
			t.Errorf("%s dirty regions %v after the second flush, want [7] (the write that overlapped it)", rep.name, got)
		}
	}
	for range 2 {
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	allClean(t, reps, "after two quiet flushes")
}

// allClean fails unless no replica's bitmap has a dirty region.
func allClean(t *testing.T, reps []*replica, when string) {
	t.Helper()
	for _, rep := range reps {
		if got := dirtyRegions(bitmapOf(t, rep)); len(got) != 0 {
			t.Errorf("%s dirty regions %v %s, want none", rep.name, got, when)
		}
	}
}

func TestIntentKeepsBitsWhileDegraded(t *testing.T) {
	reps := newReplicas(t, 3)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	before := bitmapOf(t, reps[1]).hdr.events
	reps[2].data.failWrites.Store(true)
	write(t, r, pattern(4096, 1), 2*testRegion) // m2 fails here
	if s := info(t, r, "m2").State; s != StateERR {
		t.Fatalf("m2 is %s after a failed write", s)
	}
	for _, rep := range reps[:2] {
		if ev := bitmapOf(t, rep).hdr.events; ev <= before {
			t.Errorf("%s events %d after a member failed, want more than %d", rep.name, ev, before)
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dirtyRegions(bitmapOf(t, reps[0])); len(got) != 1 || got[0] != 2 {
		t.Errorf("dirty regions %v after a flush while degraded, want [2]: the failed member lacks that write", got)
	}
}

// TestResyncAfterCrash: a write that reached one member only when the raid
// died is made the same everywhere by the next raid, which compares only
// the dirty regions.
func TestResyncAfterCrash(t *testing.T) {
	reps := newReplicas(t, 3)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	write(t, r, pattern(testSize, 1), 0)
	for range 2 {
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(t, r, pattern(8192, 2), 4*testRegion)
	write(t, r, pattern(4096, 3), 9*testRegion+4096)
	// The crash: a later write to region 9 reached m1 alone.
	if _, err := reps[1].data.WriteAt(pattern(4096, 4), 9*testRegion); err != nil {
		t.Fatal(err)
	}
	r.Close()

	r2 := raidOver(t, reps)
	st := activate(t, r2, AfterCrash)
	if st.Regions != 2 || st.Divergent != 1 || st.BytesWritten != 4096 {
		t.Errorf("resync %+v: want 2 regions compared, 1 divergent, one 4 KiB block written", st)
	}
	sameEverywhere(t, reps)
	for i := range 6 {
		a, b := make([]byte, 4096), make([]byte, 4096)
		r2.ReadAt(a, 9*testRegion)
		r2.ReadAt(b, 9*testRegion)
		if !bytes.Equal(a, b) {
			t.Fatalf("read %d of region 9 differs from the one before", i)
		}
	}
	allClean(t, reps, "after activation")
}

// TestResyncNeverCopiesFromAStaleMember: m0 failed and missed a write the
// others acknowledged; listed first after the crash, it must still not be
// the source.
func TestResyncNeverCopiesFromAStaleMember(t *testing.T) {
	reps := newReplicas(t, 3)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	old, acked := pattern(4096, 1), pattern(4096, 2)
	write(t, r, old, 2*testRegion)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	reps[0].data.failWrites.Store(true)
	write(t, r, acked, 2*testRegion) // acknowledged by m1 and m2
	reps[0].data.failWrites.Store(false)
	r.Close()

	r2 := raidOver(t, reps) // m0 first
	st := activate(t, r2, AfterCrash)
	if st.Source == "m0" || len(st.Stale) != 1 || st.Stale[0] != "m0" {
		t.Fatalf("resync %+v: m0 missed a write and must be stale, not the source", st)
	}
	got := sameEverywhere(t, reps)
	if !bytes.Equal(got[2*testRegion:2*testRegion+4096], acked) {
		t.Fatal("the acknowledged write was lost")
	}
}

func TestResyncComparesEverythingWithoutABitmap(t *testing.T) {
	reps := newReplicas(t, 2)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	write(t, r, pattern(testSize, 1), 0)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// m1's bitmap is lost and its data differs somewhere nothing marked.
	if _, err := reps[1].bitmap.WriteAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := reps[1].data.WriteAt(pattern(512, 9), 13*testRegion); err != nil {
		t.Fatal(err)
	}
	st := activate(t, raidOver(t, reps), AfterCrash)
	if len(st.Unknown) != 1 || st.Regions != testSize/testRegion || st.Divergent != 1 {
		t.Errorf("resync %+v: want m1 unknown, every region compared, one divergent", st)
	}
	sameEverywhere(t, reps)
}

// TestSkipResyncLeavesDivergence is the defect no-resync-after-crash: the
// members keep differing and reads alternate between them.
func TestSkipResyncLeavesDivergence(t *testing.T) {
	reps := newReplicas(t, 2)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	write(t, r, pattern(4096, 1), 0)
	if _, err := reps[1].data.WriteAt(pattern(4096, 2), 0); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r2 := raidOver(t, reps)
	if _, err := r2.Activate(context.Background(), ActivateOptions{Mode: AfterCrash, SkipResync: true}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 4 {
		p := make([]byte, 4096)
		if _, err := r2.ReadAt(p, 0); err != nil {
			t.Fatal(err)
		}
		seen[string(p)] = true
	}
	if len(seen) != 2 {
		t.Fatalf("%d different contents over 4 reads, want 2 (members left divergent)", len(seen))
	}
}

func TestHandoverComparesNothingWhenMembersAgree(t *testing.T) {
	reps := newReplicas(t, 2)
	r := raidOver(t, reps)
	activate(t, r, AfterCrash)
	write(t, r, pattern(testSize, 1), 0)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	write(t, r, pattern(4096, 2), 0) // dirty again, then handed over
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	r.Deactivate()
	st := activate(t, raidOver(t, reps), Handover)
	if st.Regions != 0 {
		t.Errorf("handover compared %d regions of members that agree", st.Regions)
	}
	sameEverywhere(t, reps)
}

func TestAddMemberSeedsItsBitmap(t *testing.T) {
	reps := newReplicas(t, 2)
	r := raidOver(t, reps[:1])
	activate(t, r, AfterCrash)
	write(t, r, pattern(4096, 1), 6*testRegion)
	// A fresh device with garbage where the header goes.
	if _, err := reps[1].bitmap.WriteAt(pattern(4096, 7), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.AddMember(Member{Name: "m1", Dev: reps[1].data, Bitmap: reps[1].bitmap}); err != nil {
		t.Fatal(err)
	}
	im := bitmapOf(t, reps[1])
	if got := dirtyRegions(im); len(got) != 1 || got[0] != 6 || im.hdr.events != bitmapOf(t, reps[0]).hdr.events {
		t.Errorf("joined member's bitmap: dirty %v events %d, want [6] and the raid's events", got, im.hdr.events)
	}
	if err := r.AddMember(Member{Name: "m2", Dev: newFaulty(t, testSize)}); err == nil {
		t.Error("a member without a bitmap joined a raid with a write-intent log")
	}
}

// noSpace fails writes as a full lvol does: nothing is written.
type noSpace struct{ *faulty }

func (d noSpace) WriteAt(p []byte, off int64) (int, error) {
	return 0, fmt.Errorf("lvol out of clusters: %w", syscall.ENOSPC)
}

func TestWriteOutOfSpaceEverywhereKeepsMembers(t *testing.T) {
	a, b := newFaulty(t, testSize), newFaulty(t, testSize)
	r, err := New("vol", []Member{{Name: "a", Dev: noSpace{a}}, {Name: "b", Dev: noSpace{b}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := newFaulty(t, testSize)
	if err := r.AddMember(Member{Name: "wo", Dev: c}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt(pattern(4096, 1), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write with no room anywhere: %v, want ENOSPC", err)
	}
	if sa, sb, sw := info(t, r, "a").State, info(t, r, "b").State, info(t, r, "wo").State; sa != StateRW || sb != StateRW || sw != StateERR {
		t.Errorf("states a=%s b=%s wo=%s, want RW RW ERR (the WO member took a write the others refused)", sa, sb, sw)
	}
	if n := r.Intent().NoSpaceWrites; n != 1 {
		t.Errorf("NoSpaceWrites %d, want 1", n)
	}
}

func TestWriteOutOfSpaceOnOneMemberFailsIt(t *testing.T) {
	a, b := newFaulty(t, testSize), newFaulty(t, testSize)
	r, err := New("vol", []Member{{Name: "a", Dev: noSpace{a}}, {Name: "b", Dev: b}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.WriteAt(pattern(4096, 1), 0); err != nil {
		t.Fatalf("write that b took: %v", err)
	}
	if s := info(t, r, "a").State; s != StateERR {
		t.Errorf("a is %s after missing a write b took, want ERR", s)
	}
}

// cuttable passes I/O to a device until cut, then fails every write: what
// a member sees when the raid in front of it dies mid-request. Legs of one
// write that run on either side of the cut leave members that differ.
type cuttable struct {
	*faulty
	cut *atomic.Bool
}

func (c cuttable) WriteAt(p []byte, off int64) (int, error) {
	if c.cut.Load() {
		return 0, errInjected
	}
	return c.faulty.WriteAt(p, off)
}

func (c cuttable) Flush() error {
	if c.cut.Load() {
		return errInjected
	}
	return c.faulty.Flush()
}

// TestCrashMidWriteThenResync crashes a raid under concurrent writes and
// flushes at a random moment, many times: afterwards every member must be
// byte-equal and hold every write acknowledged before the crash.
func TestCrashMidWriteThenResync(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	rng := mrand.New(mrand.NewPCG(7, 7))
	diverged := 0
	defer func() { t.Logf("%d of %d crashes left members that differed", diverged, rounds) }()
	for round := range rounds {
		reps := newReplicas(t, 3)
		var cut atomic.Bool
		var ms []Member
		for _, rep := range reps {
			ms = append(ms, Member{Name: rep.name, Dev: cuttable{rep.data, &cut}, Bitmap: cuttable{rep.bitmap, &cut}})
		}
		r, err := New("vol", ms, Options{RegionSize: testRegion})
		if err != nil {
			t.Fatal(err)
		}
		activate(t, r, AfterCrash)
		const writers, blocks = 4, 64 // each writer owns 16 blocks of 4 KiB
		acked := make([][]uint32, writers)
		var wg sync.WaitGroup
		for w := range writers {
			acked[w] = make([]uint32, blocks/writers)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for v := uint32(1); !cut.Load(); v++ {
					i := int(v) % len(acked[w])
					off := int64(i*writers+w) * 4096
					p := make([]byte, 4096)
					binary.LittleEndian.PutUint32(p, v)
					if _, err := r.WriteAt(p, off); err == nil && !cut.Load() {
						acked[w][i] = v
					}
					if v%16 == 0 {
						r.Flush()
					}
				}
			}()
		}
		eventually(t, "some writes", func() bool { return r.Intent().DirtyRegions > 0 })
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		cut.Store(true)
		wg.Wait()
		r.Close()

		r2 := raidOver(t, reps)
		st := activate(t, r2, AfterCrash)
		got := sameEverywhere(t, reps)
		for w := range writers {
			for i, v := range acked[w] {
				off := (i*writers + w) * 4096
				if have := binary.LittleEndian.Uint32(got[off:]); have < v {
					t.Fatalf("round %d: block at %d holds version %d, version %d was acknowledged", round, off, have, v)
				}
			}
		}
		if st.Divergent > 0 {
			diverged++
		}
	}
}

// TestRebuildingMemberNeverLooksInSync: a member that joined write-only
// carries a header flagged rebuilding, so that when a member fails later
// its raised event count does not make it look as new as the RW members
// (auto-salvage ranks replicas by that count), and it loses the flag only
// once it is RW.
func TestRebuildingMemberNeverLooksInSync(t *testing.T) {
	reps := newReplicas(t, 3)
	r := raidOver(t, reps[:2])
	activate(t, r, AfterCrash)
	write(t, r, pattern(4096, 1), 3*testRegion)
	if err := r.AddMember(Member{Name: "m2", Dev: reps[2].data, Bitmap: reps[2].bitmap}); err != nil {
		t.Fatal(err)
	}
	events := func(rep *replica) uint64 {
		t.Helper()
		ev, err := IntentEvents(rep.bitmap)
		if err != nil {
			t.Fatalf("%s: %v", rep.name, err)
		}
		return ev
	}
	if h := bitmapOf(t, reps[2]).hdr; !h.rebuilding() {
		t.Fatalf("joined WO member's header flags %#x, want rebuilding", h.flags)
	}
	reps[0].data.failWrites.Store(true)
	write(t, r, pattern(4096, 2), 5*testRegion) // m0 fails; m1 and m2 take it
	if s := info(t, r, "m0").State; s != StateERR {
		t.Fatalf("m0 is %s after a failed write", s)
	}
	if h := bitmapOf(t, reps[2]).hdr; !h.rebuilding() {
		t.Fatalf("after a failure the WO member's header flags are %#x, want rebuilding", h.flags)
	}
	if got, rw := events(reps[2]), events(reps[1]); got != 0 || rw == 0 {
		t.Fatalf("events: WO member %d, RW member %d; want 0 and more than 0", got, rw)
	}

	if err := r.SetMemberState("m2", StateRW); err != nil {
		t.Fatal(err)
	}
	write(t, r, pattern(4096, 3), 7*testRegion) // any header write now carries m2 in sync
	if h := bitmapOf(t, reps[2]).hdr; h.rebuilding() {
		t.Fatalf("member turned RW still flagged rebuilding (%#x)", h.flags)
	}
	if got, rw := events(reps[2]), events(reps[1]); got != rw {
		t.Fatalf("events after the member turned RW: %d, RW member %d; want equal", got, rw)
	}
}

// TestResyncComparesARebuildingMemberEverywhere: a raid started over a
// member whose bitmap says it was still being rebuilt (salvage revived it)
// compares it over every region, never takes it as the source.
func TestResyncComparesARebuildingMemberEverywhere(t *testing.T) {
	reps := newReplicas(t, 2)
	r := raidOver(t, reps[:1])
	activate(t, r, AfterCrash)
	want := pattern(testSize, 4)
	write(t, r, want, 0)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := r.AddMember(Member{Name: "m1", Dev: reps[1].data, Bitmap: reps[1].bitmap}); err != nil {
		t.Fatal(err)
	}
	r.Close() // m1 never rebuilt: its data is all zeros

	st := activate(t, raidOver(t, []*replica{reps[1], reps[0]}), AfterCrash)
	if st.Source == "m1" || len(st.Unknown) != 1 || st.Unknown[0] != "m1" {
		t.Fatalf("resync %+v: m1 was being rebuilt and must be compared everywhere, not be the source", st)
	}
	if got := sameEverywhere(t, reps); !bytes.Equal(got, want) {
		t.Fatal("the volume's data was lost to the unrebuilt member")
	}
}
