package lvstore

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

// noFUA hides the base device's WriteAtFUA.
type noFUA struct{ bdev.Device }

// committed makes a thin lvol "v" of two clusters whose first cluster is
// allocated and committed.
func (fx *fixture) committed() *Lvol {
	fx.t.Helper()
	lv := fx.lvol("v", 2*testCS, true)
	write(fx.t, lv, 0, fill(testBS, 1))
	if err := lv.Flush(); err != nil {
		fx.t.Fatal(err)
	}
	return lv
}

// TestWriteAtFUA: a FUA write takes the fast path (one durable write on
// the base device, no flush, no commit) only where the lvol's mapping of
// every cluster in the range is durable, and in every case the data is
// there after a crash (the store abandoned without Close and reopened).
func TestWriteAtFUA(t *testing.T) {
	tests := []struct {
		name  string
		setup func(fx *fixture) *Lvol
		off   int64
		fast  bool
	}{
		{"thick lvol", func(fx *fixture) *Lvol {
			return fx.lvol("v", 2*testCS, false)
		}, testBS, true},
		{"thin lvol, cluster allocated and committed", (*fixture).committed, testBS, true},
		{"thin lvol, cluster allocated but not committed", func(fx *fixture) *Lvol {
			lv := fx.lvol("v", 2*testCS, true)
			write(fx.t, lv, 0, fill(testBS, 1))
			return lv
		}, testBS, false},
		{"thin lvol, cluster not allocated", func(fx *fixture) *Lvol {
			return fx.lvol("v", 2*testCS, true)
		}, testBS, false},
		{"range over a committed and an unallocated cluster", (*fixture).committed, testCS - testBS, false},
		{"thick lvol after a snapshot took its clusters", func(fx *fixture) *Lvol {
			lv := fx.lvol("v", 2*testCS, false)
			if _, err := fx.s.Snapshot(lv, "snap", nil); err != nil {
				fx.t.Fatal(err)
			}
			return lv
		}, testBS, false},
		{"cluster deallocated and allocated again", func(fx *fixture) *Lvol {
			lv := fx.committed()
			if err := lv.Unmap(0, testCS); err != nil {
				fx.t.Fatal(err)
			}
			write(fx.t, lv, 0, fill(testBS, 2))
			return lv
		}, testBS, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			lv := tt.setup(fx)
			want := read(t, lv, 0, int(lv.Size()))
			p := fill(2*testBS, 0x70)
			copy(want[tt.off:], p)
			fua, flushes := fx.dev.fuaWrites.Load(), fx.dev.flushes.Load()
			if _, err := lv.WriteAtFUA(p, tt.off); err != nil {
				t.Fatal(err)
			}
			fua, flushes = fx.dev.fuaWrites.Load()-fua, fx.dev.flushes.Load()-flushes
			if fast := fua > 0 && flushes == 0; fast != tt.fast {
				t.Fatalf("fast path %v (%d FUA writes, %d flushes), want %v", fast, fua, flushes, tt.fast)
			}
			if !bytes.Equal(read(t, lv, 0, len(want)), want) {
				t.Fatal("lvol does not read what the FUA write left")
			}
			s := fx.abandon()
			if !bytes.Equal(read(t, fx.get2(s, "v"), 0, len(want)), want) {
				t.Fatal("acknowledged FUA write lost in a crash")
			}
		})
	}
}

// TestWriteAtFUAWithoutDeviceFUA: over a base device that cannot make one
// write durable, a FUA write is a write and a flush.
func TestWriteAtFUAWithoutDeviceFUA(t *testing.T) {
	fx := newFixture(t)
	s, err := Create(noFUA{fx.dev}, "plain", testCS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := s.CreateLvol("v", testCS, false)
	if err != nil {
		t.Fatal(err)
	}
	flushes := fx.dev.flushes.Load()
	if _, err := lv.WriteAtFUA(fill(testBS, 5), 0); err != nil {
		t.Fatal(err)
	}
	if fx.dev.fuaWrites.Load() != 0 || fx.dev.flushes.Load() == flushes {
		t.Fatalf("%d FUA writes, %d flushes: want a write and a flush", fx.dev.fuaWrites.Load(), fx.dev.flushes.Load()-flushes)
	}
	if !bytes.Equal(read(t, lv, 0, testBS), fill(testBS, 5)) {
		t.Fatal("data wrong")
	}
	ro, err := s.Snapshot(lv, "snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.WriteAtFUA(fill(testBS, 6), 0); !errors.Is(err, bdev.ErrReadOnly) {
		t.Fatalf("FUA write to a snapshot: %v, want ErrReadOnly", err)
	}
}

// slotFailDev fails metadata slot writes while armed.
type slotFailDev struct {
	*fileDev
	dataOffset int64
	armed      atomic.Bool
}

func (d *slotFailDev) WriteAt(p []byte, off int64) (int, error) {
	if d.armed.Load() && off < d.dataOffset {
		return 0, errors.New("injected metadata write failure")
	}
	return d.fileDev.WriteAt(p, off)
}

// TestWriteAtFUAAfterFailedCommit: deleting a snapshot hands its clusters
// to the child, but the commit fails, so durable metadata still gives
// them to the snapshot. A FUA write into such a cluster must not be a bare
// durable write: after a crash the snapshot would still exist with the
// child's new data in it. It has to commit first.
func TestWriteAtFUAAfterFailedCommit(t *testing.T) {
	fx := newFixture(t)
	dev := &slotFailDev{fileDev: fx.dev}
	s, err := Create(dev, "lvs", testCS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	dev.dataOffset = int64(s.sb.dataOffset)
	lv, err := s.CreateLvol("v", 2*testCS, false)
	if err != nil {
		t.Fatal(err)
	}
	old := fill(2*testCS, 0x10)
	write(t, lv, 0, old)
	snap, err := s.Snapshot(lv, "snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, lv, testCS, fill(testBS, 0x20)) // lv owns cluster 1 only
	if err := lv.Flush(); err != nil {
		t.Fatal(err)
	}
	dev.armed.Store(true)
	if err := s.Delete(snap); err == nil {
		t.Fatal("delete committed despite the injected failure")
	}
	dev.armed.Store(false)
	fresh := fill(testBS, 0x30)
	if _, err := lv.WriteAtFUA(fresh, 0); err != nil { // cluster 0, merged in memory only
		t.Fatal(err)
	}
	s2 := fx.abandon()
	if got := read(t, fx.get2(s2, "v"), 0, testBS); !bytes.Equal(got, fresh) {
		t.Fatal("acknowledged FUA write lost in a crash")
	}
	if sn, err := s2.Lvol("snap"); err == nil {
		if got := read(t, sn, 0, testBS); !bytes.Equal(got, old[:testBS]) {
			t.Fatal("after a crash the snapshot holds the child's FUA write")
		}
	}
}
