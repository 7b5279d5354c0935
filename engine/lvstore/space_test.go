package lvstore

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

// TestFullStore fills every cluster, checks ENOSPC, then frees one cluster
// with an unmap: the next allocation must get it after an implicit commit.
func TestFullStore(t *testing.T) {
	fx := newFixture(t)
	total := fx.s.TotalClusters()
	lv := fx.lvol("big", (total+1)*testCS, true)
	for c := range total {
		write(t, lv, int64(c)*testCS, fill(testBS, byte(c)))
	}
	if fx.s.FreeClusters() != 0 {
		t.Fatalf("free clusters %d, want 0", fx.s.FreeClusters())
	}
	if _, err := lv.WriteAt(fill(testBS, 1), int64(total)*testCS); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write with no free cluster: %v, want ENOSPC", err)
	}
	if err := lv.Unmap(0, testCS); err != nil {
		t.Fatal(err)
	}
	write(t, lv, int64(total)*testCS, fill(testBS, 2))
	if !bytes.Equal(read(t, lv, 0, testBS), make([]byte, testBS)) ||
		!bytes.Equal(read(t, lv, int64(total)*testCS, testBS), fill(testBS, 2)) {
		t.Fatal("data wrong after reusing an unmapped cluster")
	}
	if _, err := fx.s.CreateLvol("thick", testCS, false); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("thick lvol in a full store: %v, want ENOSPC", err)
	}
	fx.reopen(nil)
	if got := read(t, fx.get("big"), 5*testCS, testBS); !bytes.Equal(got, fill(testBS, 5)) {
		t.Fatal("data lost after reopen of a full store")
	}
}

// TestRecreate formats a device that already holds a store.
func TestRecreate(t *testing.T) {
	fx := newFixture(t)
	fx.lvol("old", testCS, true)
	old := fx.s.UUID()
	s, err := Create(fx.dev, "new", testCS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(fx.dev, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if s2.UUID() == old || s2.Name() != "new" || len(s2.Lvols()) != 0 {
		t.Fatalf("recreated store: uuid %s (old %s) name %s lvols %d", s2.UUID(), old, s2.Name(), len(s2.Lvols()))
	}
}

// TestEsnapSnapshotDeleteMerge: deleting the snapshot of an esnap clone
// hands the external parent back to the clone.
func TestEsnapSnapshotDeleteMerge(t *testing.T) {
	fx := newFixture(t)
	ext := newMemDev(2*testCS, 512)
	copy(ext.b, fill(len(ext.b), 0x61))
	es, err := fx.s.CloneExternal(ext, "ext", "es")
	if err != nil {
		t.Fatal(err)
	}
	write(t, es, 0, fill(testBS, 1))
	snap, err := fx.s.Snapshot(es, "snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	if es.IsEsnapClone() || snap.ExternalParent() != "ext" {
		t.Fatal("snapshot did not take the external parent")
	}
	write(t, es, testCS, fill(testBS, 2))
	want := read(t, es, 0, int(es.Size()))
	if err := fx.s.Delete(snap); err != nil {
		t.Fatal(err)
	}
	if es.ExternalParent() != "ext" || es.Parent() != nil || !bytes.Equal(read(t, es, 0, int(es.Size())), want) {
		t.Fatal("merge into an esnap chain lost the external parent or data")
	}
	if err := fx.s.Inflate(es); err != nil {
		t.Fatal(err)
	}
	if es.IsEsnapClone() || es.IsThin() || !bytes.Equal(read(t, es, 0, int(es.Size())), want) {
		t.Fatal("inflate of an esnap clone")
	}
}
