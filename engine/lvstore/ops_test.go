package lvstore

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

func TestSnapshotTurnsOriginIntoClone(t *testing.T) {
	fx := newFixture(t)
	s := fx.s
	lv := fx.lvol("vol", 4*testCS, false)
	data := fill(2*testCS, 3)
	write(t, lv, 0, data)
	uuid, alloc := lv.UUID(), lv.NumAllocatedClusters()
	snap, err := s.Snapshot(lv, "snap1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lv.UUID() != uuid || lv.Name() != "vol" || !lv.IsThin() || !lv.IsClone() || lv.Parent() != snap || lv.NumAllocatedClusters() != 0 {
		t.Fatalf("origin after snapshot: uuid %s name %s thin %v parent %v allocated %d",
			lv.UUID(), lv.Name(), lv.IsThin(), lv.Parent(), lv.NumAllocatedClusters())
	}
	if !snap.IsSnapshot() || !snap.IsReadOnly() || snap.NumAllocatedClusters() != alloc || snap.Parent() != nil || snap.NumClusters() != 4 {
		t.Fatalf("snapshot: snapshot %v ro %v allocated %d (want %d)", snap.IsSnapshot(), snap.IsReadOnly(), snap.NumAllocatedClusters(), alloc)
	}
	if got := read(t, lv, 0, len(data)); !bytes.Equal(got, data) {
		t.Fatal("origin reads differ after snapshot")
	}
	if kids := snap.Children(); len(kids) != 1 || kids[0] != lv {
		t.Fatalf("snapshot children %v", kids)
	}
	// A second snapshot slots in between the first and the origin.
	write(t, lv, 0, fill(testBS, 40))
	snap2, err := s.Snapshot(lv, "snap2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap2.Parent() != snap || lv.Parent() != snap2 {
		t.Fatalf("chain: snap2 parent %v, origin parent %v", snap2.Parent(), lv.Parent())
	}
	if _, err := s.Snapshot(snap, "again", nil); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("snapshot of a read-only lvol: %v, want EINVAL", err)
	}
	if _, err := s.Snapshot(lv, "snap1", nil); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("snapshot with a taken name: %v, want EEXIST", err)
	}
}

func TestCloneRequiresReadOnly(t *testing.T) {
	fx := newFixture(t)
	lv := fx.lvol("vol", testCS, true)
	if _, err := fx.s.Clone(lv, "c"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("clone of a writable lvol: %v, want EINVAL", err)
	}
	write(t, lv, 0, fill(testBS, 1))
	if err := fx.s.SetReadOnly(lv); err != nil {
		t.Fatal(err)
	}
	c, err := fx.s.Clone(lv, "c")
	if err != nil {
		t.Fatalf("clone of a read-only lvol: %v", err)
	}
	if !bytes.Equal(read(t, c, 0, testBS), fill(testBS, 1)) || c.Parent() != lv || !c.IsThin() {
		t.Fatal("clone does not read through its parent")
	}
	if _, err := fx.s.Clone(lv, "c"); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("clone with a taken name: %v, want EEXIST", err)
	}
}

func TestReadFallThrough(t *testing.T) {
	fx := newFixture(t)
	s := fx.s
	ext := newMemDev(2*testCS, 512)
	copy(ext.b, fill(len(ext.b), 0x50))
	base := fx.lvol("base", 2*testCS, true)
	write(t, base, 0, fill(testBS, 1))
	snap, err := s.Snapshot(base, "snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	clone, err := s.Clone(snap, "clone")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Resize(clone, 4*testCS); err != nil {
		t.Fatal(err)
	}
	es, err := s.CloneExternal(ext, "ext", "es")
	if err != nil {
		t.Fatal(err)
	}
	essnap, err := s.Snapshot(es, "es-snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	esclone, err := s.Clone(essnap, "es-clone")
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, testBS)
	tests := []struct {
		name string
		lv   *Lvol
		off  int64
		want []byte
	}{
		{"thin no parent reads zeros", fx.lvol("thin", testCS, true), 0, zero},
		{"clone reads parent data", clone, 0, fill(testBS, 1)},
		{"clone reads parent zeros", clone, testCS, zero},
		{"beyond a shorter parent reads zeros", clone, 3 * testCS, zero},
		{"esnap clone reads external data", es, testBS, ext.b[testBS : 2*testBS]},
		{"clone of esnap snapshot reads external", esclone, testCS, ext.b[testCS : testCS+testBS]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := read(t, tt.lv, tt.off, len(tt.want)); !bytes.Equal(got, tt.want) {
				t.Fatalf("read %x..., want %x...", got[:8], tt.want[:8])
			}
		})
	}
}

func TestCopyOnWriteKeepsRestOfCluster(t *testing.T) {
	tests := []struct {
		name string
		ext  bool
	}{{"snapshot parent", false}, {"external parent", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			parentData := fill(testCS, 0x11)
			var child *Lvol
			var err error
			if tt.ext {
				ext := newMemDev(testCS, 512)
				copy(ext.b, parentData)
				child, err = fx.s.CloneExternal(ext, "e", "child")
			} else {
				base := fx.lvol("base", testCS, true)
				write(t, base, 0, parentData)
				var snap *Lvol
				if snap, err = fx.s.Snapshot(base, "snap", nil); err == nil {
					child, err = fx.s.Clone(snap, "child")
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			write(t, child, 2*testBS, fill(testBS, 0xee))
			want := append([]byte(nil), parentData...)
			copy(want[2*testBS:], fill(testBS, 0xee))
			if got := read(t, child, 0, testCS); !bytes.Equal(got, want) {
				t.Fatal("cluster after copy-on-write differs from parent + write")
			}
			if child.NumAllocatedClusters() != 1 {
				t.Fatalf("child allocated %d clusters, want 1", child.NumAllocatedClusters())
			}
			fx.reopen(func(string) (bdev.Device, bool) { return nil, false })
		})
	}
}

func TestSetParent(t *testing.T) {
	type env struct {
		fx                    *fixture
		thin, thick, snapA    *Lvol
		snapB, writable, tiny *Lvol
	}
	setup := func(t *testing.T) *env {
		fx := newFixture(t)
		e := &env{fx: fx}
		a := fx.lvol("a", 2*testCS, true)
		write(t, a, 0, fill(testBS, 1))
		var err error
		if e.snapA, err = fx.s.Snapshot(a, "snapA", nil); err != nil {
			t.Fatal(err)
		}
		b := fx.lvol("b", 2*testCS, true)
		write(t, b, testCS, fill(testBS, 2))
		if e.snapB, err = fx.s.Snapshot(b, "snapB", nil); err != nil {
			t.Fatal(err)
		}
		small := fx.lvol("small", testCS, true)
		if e.tiny, err = fx.s.Snapshot(small, "tiny", nil); err != nil {
			t.Fatal(err)
		}
		e.thin = a
		e.thick = fx.lvol("thick", 2*testCS, false)
		e.writable = fx.lvol("w", 2*testCS, true)
		return e
	}
	tests := []struct {
		name   string
		lv     func(*env) *Lvol
		parent func(*env) *Lvol
		want   error
	}{
		{"self", func(e *env) *Lvol { return e.thin }, func(e *env) *Lvol { return e.thin }, syscall.EINVAL},
		{"already parent", func(e *env) *Lvol { return e.thin }, func(e *env) *Lvol { return e.snapA }, syscall.EEXIST},
		{"not thin", func(e *env) *Lvol { return e.thick }, func(e *env) *Lvol { return e.snapA }, syscall.EINVAL},
		{"not a snapshot", func(e *env) *Lvol { return e.thin }, func(e *env) *Lvol { return e.writable }, syscall.EINVAL},
		{"size differs", func(e *env) *Lvol { return e.thin }, func(e *env) *Lvol { return e.tiny }, syscall.EINVAL},
		{"cycle", func(e *env) *Lvol { return e.snapA }, func(e *env) *Lvol { return e.snapA.Children()[0].Parent() }, syscall.EINVAL},
		{"ok", func(e *env) *Lvol { return e.thin }, func(e *env) *Lvol { return e.snapB }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			lv, p := tt.lv(e), tt.parent(e)
			err := e.fx.s.SetParent(lv, p)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				// Metadata only: lv now reads snapB's data, not snapA's.
				if lv.Parent() != p || !bytes.Equal(read(t, lv, testCS, testBS), fill(testBS, 2)) ||
					!bytes.Equal(read(t, lv, 0, testBS), make([]byte, testBS)) {
					t.Fatal("lvol does not read through its new parent")
				}
				e.fx.reopen(nil)
				if e.fx.get("a").Parent() != e.fx.get("snapB") {
					t.Fatal("new parent not persisted")
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("SetParent: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetParentBusyDuringShallowCopy(t *testing.T) {
	fx := newFixture(t)
	a := fx.lvol("a", 2*testCS, true)
	write(t, a, 0, fill(testBS, 1))
	snap, err := fx.s.Snapshot(a, "snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	other := fx.lvol("o", 2*testCS, true)
	dst := &hookDev{memDev: newMemDev(2*testCS, testBS)}
	dst.onWrite = func() {
		if err := fx.s.SetParent(other, snap); !errors.Is(err, syscall.EBUSY) {
			t.Errorf("SetParent during shallow copy: %v, want EBUSY", err)
		}
		if err := fx.s.Delete(snap); !errors.Is(err, syscall.EBUSY) {
			t.Errorf("Delete during shallow copy: %v, want EBUSY", err)
		}
	}
	if err := fx.s.ShallowCopy(context.Background(), snap, dst, nil); err != nil {
		t.Fatal(err)
	}
	if dst.writes == 0 {
		t.Fatal("shallow copy wrote nothing")
	}
	if err := fx.s.SetParent(other, snap); err != nil {
		t.Fatalf("SetParent after the copy: %v", err)
	}
}

// hookDev runs onWrite before each write.
type hookDev struct {
	*memDev
	writes  int
	onWrite func()
}

func (d *hookDev) WriteAt(p []byte, off int64) (int, error) {
	d.writes++
	if d.onWrite != nil {
		d.onWrite()
	}
	return d.memDev.WriteAt(p, off)
}

func TestSetParentExternal(t *testing.T) {
	fx := newFixture(t)
	ext := newMemDev(2*testCS, 512)
	copy(ext.b, fill(len(ext.b), 0x33))
	lv := fx.lvol("v", 2*testCS, true)
	thick := fx.lvol("thick", 2*testCS, false)
	tests := []struct {
		name string
		lv   *Lvol
		dev  bdev.Device
		id   string
		want error
	}{
		{"not thin", thick, ext, "e1", syscall.EINVAL},
		{"own uuid", lv, ext, lv.UUID(), syscall.EINVAL},
		{"size not cluster multiple", lv, newMemDev(testCS+4096, 512), "e2", syscall.EINVAL},
		{"same-store lvol", lv, thick, thick.UUID(), syscall.EINVAL},
		{"ok", lv, ext, "e1", nil},
		{"already parent", lv, ext, "e1", syscall.EEXIST},
	}
	for _, tt := range tests {
		err := fx.s.SetParentExternal(tt.lv, tt.dev, tt.id)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if !lv.IsEsnapClone() || !bytes.Equal(read(t, lv, 0, testBS), ext.b[:testBS]) {
		t.Fatal("lvol does not read its external parent")
	}
}

func TestShallowCopy(t *testing.T) {
	fx := newFixture(t)
	base := fx.lvol("base", 4*testCS, true)
	write(t, base, 0, fill(testCS, 1)) // cluster 0 -> snap1
	snap1, err := fx.s.Snapshot(base, "snap1", nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, base, 2*testCS, fill(testBS, 2)) // cluster 2 -> snap2
	snap2, err := fx.s.Snapshot(base, "snap2", nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := newMemDev(4*testCS, 512)
	copy(dst.b, fill(len(dst.b), 0xaa))
	orig := append([]byte(nil), dst.b...)
	var calls []uint64
	if err := fx.s.ShallowCopy(context.Background(), snap2, dst, func(c, total uint64) {
		if total != 1 {
			t.Errorf("total %d, want 1", total)
		}
		calls = append(calls, c)
	}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0] != 1 {
		t.Fatalf("progress calls %v", calls)
	}
	want := append([]byte(nil), orig...)
	copy(want[2*testCS:3*testCS], read(t, snap2, 2*testCS, testCS))
	if !bytes.Equal(dst.b, want) {
		t.Fatal("destination differs outside the source's own cluster, or the cluster was not copied")
	}
	tests := []struct {
		name string
		src  *Lvol
		dst  bdev.Device
		want error
	}{
		{"source writable", base, newMemDev(4*testCS, 512), syscall.EPERM},
		{"destination too small", snap1, newMemDev(3*testCS, 512), syscall.EINVAL},
		{"destination block larger", snap1, newMemDev(4*testCS, 8192), syscall.EINVAL},
	}
	for _, tt := range tests {
		if err := fx.s.ShallowCopy(context.Background(), tt.src, tt.dst, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fx.s.ShallowCopy(ctx, snap1, newMemDev(4*testCS, 512), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled copy: %v", err)
	}
	if err := fx.s.Delete(snap1); !errors.Is(err, nil) && errors.Is(err, syscall.EBUSY) {
		t.Fatalf("snapshot still busy after the copies ended: %v", err)
	}
}

func TestDeleteMerge(t *testing.T) {
	fx := newFixture(t)
	s := fx.s
	base := fx.lvol("base", 3*testCS, true)
	write(t, base, 0, fill(testBS, 1))
	write(t, base, testCS, fill(testBS, 2))
	snap1, err := s.Snapshot(base, "snap1", nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, base, testCS, fill(testBS, 3))
	write(t, base, 2*testCS, fill(testBS, 4))
	snap2, err := s.Snapshot(base, "snap2", nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, base, 2*testCS, fill(testBS, 5))
	before := read(t, base, 0, int(base.Size()))
	free := s.FreeClusters()
	// snap2 has one clone (base): deleting it merges.
	if err := s.Delete(snap2); err != nil {
		t.Fatal(err)
	}
	if base.Parent() != snap1 || base.NumAllocatedClusters() != 2 {
		t.Fatalf("after merge: parent %v allocated %d (want snap1, 2)", base.Parent(), base.NumAllocatedClusters())
	}
	if !bytes.Equal(read(t, base, 0, int(base.Size())), before) {
		t.Fatal("data changed by the merge")
	}
	// snap2 owned clusters 1 and 2; base already had 2, so one is freed.
	if got := s.FreeClusters(); got != free+1 {
		t.Fatalf("free clusters %d, want %d", got, free+1)
	}
	if _, err := s.Lvol("snap2"); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("deleted snapshot still found: %v", err)
	}
	if _, err := s.Clone(snap1, "c2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(snap1); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("delete of a snapshot with two clones: %v, want EPERM", err)
	}
	fx.reopen(nil)
	if !bytes.Equal(read(t, fx.get("base"), 0, int(base.Size())), before) {
		t.Fatal("merged data lost on reopen")
	}
}

func TestDeleteFreesClusters(t *testing.T) {
	fx := newFixture(t)
	free := fx.s.FreeClusters()
	lv := fx.lvol("v", 4*testCS, false)
	if err := fx.s.Delete(lv); err != nil {
		t.Fatal(err)
	}
	if got := fx.s.FreeClusters(); got != free {
		t.Fatalf("free clusters %d after delete, want %d", got, free)
	}
	if _, err := lv.ReadAt(make([]byte, testBS), 0); err == nil {
		t.Fatal("read from a deleted lvol succeeded")
	}
	if err := fx.s.Delete(lv); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("second delete: %v, want ENODEV", err)
	}
	// The freed clusters are reusable.
	if _, err := fx.s.CreateLvol("all", free*testCS, false); err != nil {
		t.Fatalf("thick lvol over every cluster after delete: %v", err)
	}
}

func TestRenameResize(t *testing.T) {
	fx := newFixture(t)
	lv := fx.lvol("v", 2*testCS, true)
	fx.lvol("other", testCS, true)
	uuid := lv.UUID()
	tests := []struct {
		name string
		want error
	}{{"v", nil}, {"other", syscall.EEXIST}, {"", syscall.EINVAL}, {"renamed", nil}}
	for _, tt := range tests {
		if err := fx.s.RenameLvol(lv, tt.name); tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("rename to %q: %v, want %v", tt.name, err, tt.want)
		}
	}
	if lv.Name() != "renamed" || lv.UUID() != uuid || lv.Alias() != "lvs0/renamed" {
		t.Fatalf("after rename: %s %s %s", lv.Name(), lv.UUID(), lv.Alias())
	}
	write(t, lv, testCS, fill(testBS, 1))
	free := fx.s.FreeClusters()
	if err := fx.s.Resize(lv, testCS); err != nil {
		t.Fatal(err)
	}
	if lv.NumClusters() != 1 || fx.s.FreeClusters() != free+1 {
		t.Fatalf("shrink: %d clusters, free %d (want %d)", lv.NumClusters(), fx.s.FreeClusters(), free+1)
	}
	if err := fx.s.Resize(lv, 3*testCS-1); err != nil {
		t.Fatal(err)
	}
	if lv.NumClusters() != 3 || !bytes.Equal(read(t, lv, testCS, testBS), make([]byte, testBS)) {
		t.Fatal("grown lvol does not read zeros where it was shrunk")
	}
	fx.reopen(nil)
	if got := fx.get(uuid); got.Name() != "renamed" || got.NumClusters() != 3 {
		t.Fatalf("after reopen: %s %d clusters", got.Name(), got.NumClusters())
	}
	snap, err := fx.s.Snapshot(fx.get(uuid), "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.s.Resize(snap, testCS); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("resize of a snapshot: %v, want EPERM", err)
	}
}

// chain builds snap1 (clusters 0,1) <- snap2 (cluster 1,2) <- head (cluster 3).
func chain(t *testing.T, fx *fixture) (head, snap1, snap2 *Lvol, view []byte) {
	t.Helper()
	head = fx.lvol("head", 4*testCS, true)
	write(t, head, 0, fill(testBS, 1))
	write(t, head, testCS, fill(testBS, 2))
	var err error
	if snap1, err = fx.s.Snapshot(head, "snap1", nil); err != nil {
		t.Fatal(err)
	}
	write(t, head, testCS, fill(testBS, 3))
	write(t, head, 2*testCS, fill(testBS, 4))
	if snap2, err = fx.s.Snapshot(head, "snap2", nil); err != nil {
		t.Fatal(err)
	}
	write(t, head, 3*testCS, fill(testBS, 5))
	return head, snap1, snap2, read(t, head, 0, int(head.Size()))
}

func TestDecoupleInflateDetach(t *testing.T) {
	tests := []struct {
		name       string
		op         func(*Store, *Lvol) error
		parent     string // expected parent name afterwards
		allocated  uint64
		thin       bool
		keepsData  bool
		zeroOffset int64 // an offset that must read zeros (detach), or -1
	}{
		{"decouple", (*Store).DecoupleParent, "snap1", 3, true, true, -1},
		{"inflate", (*Store).Inflate, "", 4, false, true, -1},
		{"detach", (*Store).DetachParent, "", 1, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			head, _, _, view := chain(t, fx)
			if err := tt.op(fx.s, head); err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 2; round++ {
				head = fx.get("head")
				parent := ""
				if p := head.Parent(); p != nil {
					parent = p.Name()
				}
				if parent != tt.parent || head.NumAllocatedClusters() != tt.allocated || head.IsThin() != tt.thin {
					t.Fatalf("round %d: parent %q allocated %d thin %v; want %q %d %v", round, parent,
						head.NumAllocatedClusters(), head.IsThin(), tt.parent, tt.allocated, tt.thin)
				}
				got := read(t, head, 0, int(head.Size()))
				if tt.keepsData && !bytes.Equal(got, view) {
					t.Fatalf("round %d: data changed", round)
				}
				if tt.zeroOffset >= 0 && !bytes.Equal(got[tt.zeroOffset:tt.zeroOffset+testBS], make([]byte, testBS)) {
					t.Fatalf("round %d: detached lvol still reads parent data", round)
				}
				fx.reopen(nil)
			}
		})
	}
	fx := newFixture(t)
	if err := fx.s.DecoupleParent(fx.lvol("lonely", testCS, true)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("decouple without a parent: %v, want EINVAL", err)
	}
}

func TestDegradedEsnap(t *testing.T) {
	fx := newFixture(t)
	ext := newMemDev(2*testCS, 512)
	copy(ext.b, fill(len(ext.b), 0x21))
	es, err := fx.s.CloneExternal(ext, "ext-1", "es")
	if err != nil {
		t.Fatal(err)
	}
	write(t, es, 0, fill(testBS, 7))
	fx.reopen(func(string) (bdev.Device, bool) { return nil, false })
	es = fx.get("es")
	if !es.IsDegraded() || es.ExternalParent() != "ext-1" || len(fx.s.Lvols()) != 1 {
		t.Fatalf("degraded %v ext %q", es.IsDegraded(), es.ExternalParent())
	}
	if _, err := es.ReadAt(make([]byte, testBS), 0); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("read from a degraded lvol: %v, want ENODEV", err)
	}
	fx.s.ResolveExternal("ext-1", ext)
	if es.IsDegraded() {
		t.Fatal("still degraded after ResolveExternal")
	}
	if !bytes.Equal(read(t, es, 0, testBS), fill(testBS, 7)) || !bytes.Equal(read(t, es, testCS, testBS), ext.b[testCS:testCS+testBS]) {
		t.Fatal("esnap clone data wrong after resolve")
	}
	if err := fx.s.Delete(es); err != nil {
		t.Fatalf("delete a once-degraded lvol: %v", err)
	}
}

func TestWriteZeroes(t *testing.T) {
	fx := newFixture(t)
	base := fx.lvol("base", 3*testCS, true)
	write(t, base, 0, fill(3*testCS, 1))
	snap, err := fx.s.Snapshot(base, "snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	clone, err := fx.s.Clone(snap, "clone")
	if err != nil {
		t.Fatal(err)
	}
	thin := fx.lvol("thin", 3*testCS, true)
	write(t, thin, 0, fill(3*testCS, 2))
	thick := fx.lvol("thick", 2*testCS, false)
	write(t, thick, 0, fill(2*testCS, 3))
	tests := []struct {
		name      string
		lv        *Lvol
		off, n    int64
		allocated uint64
	}{
		{"whole cluster, parent has data", clone, testCS, testCS, 1},
		{"partial, parent has data", clone, 2*testCS + testBS, testBS, 2},
		{"whole clusters, no parent: deallocated", thin, 0, 2 * testCS, 1},
		{"partial, own cluster", thin, 2 * testCS, testBS, 1},
		{"whole cluster of a thick lvol stays allocated", thick, 0, testCS, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := read(t, tt.lv, 0, int(tt.lv.Size()))
			clear(want[tt.off : tt.off+tt.n])
			if err := tt.lv.WriteZeroes(tt.off, tt.n); err != nil {
				t.Fatal(err)
			}
			if got := read(t, tt.lv, 0, int(tt.lv.Size())); !bytes.Equal(got, want) {
				t.Fatal("range does not read as zeros, or data around it changed")
			}
			if tt.lv.NumAllocatedClusters() != tt.allocated {
				t.Fatalf("allocated %d, want %d", tt.lv.NumAllocatedClusters(), tt.allocated)
			}
		})
	}
	free := fx.s.FreeClusters()
	if err := fx.s.Close(); err != nil {
		t.Fatal(err)
	}
	fx.reopen(nil)
	if fx.s.FreeClusters() != free {
		t.Fatalf("free clusters %d after reopen, want %d", fx.s.FreeClusters(), free)
	}
}

func TestFragmap(t *testing.T) {
	fx := newFixture(t)
	lv := fx.lvol("v", 10*testCS, true)
	for _, c := range []int64{0, 3, 9} {
		write(t, lv, c*testCS, fill(testBS, 1))
	}
	tests := []struct {
		off, size uint64
		want      []byte
		err       error
	}{
		{0, 0, []byte{0b00001001, 0b10}, nil},
		{3 * testCS, 2 * testCS, []byte{0b01}, nil},
		{9 * testCS, testCS, []byte{0b1}, nil},
		{1, testCS, nil, syscall.EINVAL},
		{0, 11 * testCS, nil, syscall.EINVAL},
	}
	for _, tt := range tests {
		got, err := lv.Fragmap(tt.off, tt.size)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Fragmap(%d,%d): %v, want %v", tt.off, tt.size, err, tt.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("Fragmap(%d,%d) = %08b, %v; want %08b", tt.off, tt.size, got, err, tt.want)
		}
	}
}

func TestXattrLimits(t *testing.T) {
	fx := newFixture(t)
	lv := fx.lvol("v", testCS, true)
	if err := fx.s.SetXattr(lv, "", "x"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("empty xattr name: %v", err)
	}
	if err := fx.s.SetXattr(lv, "k", string(make([]byte, maxXattrVal+1))); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("oversized value: %v", err)
	}
	if err := fx.s.SetXattr(lv, "k", "1"); err != nil {
		t.Fatal(err)
	}
	if err := fx.s.SetXattr(lv, "k", "2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := fx.s.GetXattr(lv, "k"); v != "2" {
		t.Fatalf("xattr %q, want 2", v)
	}
}
