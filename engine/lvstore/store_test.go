package lvstore

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

func TestCreateGeometry(t *testing.T) {
	fx := newFixture(t)
	s := fx.s
	if s.ClusterSize() != testCS || s.BlockSize() != testBS || s.Name() != "lvs0" {
		t.Fatalf("geometry: cs %d bs %d name %s", s.ClusterSize(), s.BlockSize(), s.Name())
	}
	if s.TotalClusters() == 0 || s.FreeClusters() != s.TotalClusters() {
		t.Fatalf("clusters: total %d free %d", s.TotalClusters(), s.FreeClusters())
	}
	// refengine's own layout could hold own clusters, packed tight; Create
	// gives no more than SPDK would (capacity.go).
	own, err := fitClusters(testSize, testCS)
	if err != nil {
		t.Fatal(err)
	}
	if used := superSize + numSlots*slotCapacityFor(own) + own*testCS; used > testSize || testSize-used >= testCS+2*4096 {
		t.Fatalf("own layout uses %d of %d bytes", used, testSize)
	}
	if want := min(own, spdkDataClusters(testSize, testCS, 0)); s.TotalClusters() != want {
		t.Fatalf("%d data clusters, want %d", s.TotalClusters(), want)
	}
	if len(s.UUID()) != 36 || s.UUID()[14] != '4' {
		t.Fatalf("uuid %q is not an RFC 4122 v4 text form", s.UUID())
	}
}

func TestCreateRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		size    int64
		bs      int
		lvs     string
		cs      uint32
		wantErr syscall.Errno
	}{
		{"tiny device", 256 << 10, 4096, "a", 64 << 10, syscall.ENOSPC},
		{"cluster not power of two", 8 << 20, 4096, "a", 96 << 10, syscall.EINVAL},
		{"cluster below 4k", 8 << 20, 512, "a", 2048, syscall.EINVAL},
		{"odd block size", 8 << 20, 1024, "a", 64 << 10, syscall.EINVAL},
		{"empty name", 8 << 20, 4096, "", 64 << 10, syscall.EINVAL},
		{"long name", 8 << 20, 4096, strings.Repeat("n", 64), 64 << 10, syscall.EINVAL},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := openFileDev(filepath.Join(dir, string(rune('a'+i))), tt.size, tt.bs)
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			_, err = Create(dev, tt.lvs, tt.cs, quiet)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Create: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestOpenNotFound(t *testing.T) {
	dev, err := openFileDev(filepath.Join(t.TempDir(), "d"), testSize, testBS)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, err := Open(dev, nil, quiet); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a blank device: %v, want ErrNotFound", err)
	}
	s, err := Create(dev, "lvs", testCS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLvol("v", testCS, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dev, nil, quiet); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Destroy: %v, want ErrNotFound", err)
	}
}

// TestExamine checks that Open after Close finds everything: lvols,
// flags, parents, xattrs, data and free clusters.
func TestExamine(t *testing.T) {
	fx := newFixture(t)
	ext := newMemDev(4*testCS, 512)
	copy(ext.b, fill(len(ext.b), 0x70))
	base := fx.lvol("base", 3*testCS, false)
	write(t, base, testCS, fill(2*testBS, 1))
	snap, err := fx.s.Snapshot(base, "snap", map[string]string{"user_created": "true"})
	if err != nil {
		t.Fatal(err)
	}
	clone, err := fx.s.Clone(snap, "clone")
	if err != nil {
		t.Fatal(err)
	}
	write(t, clone, 0, fill(testBS, 9))
	es, err := fx.s.CloneExternal(ext, "ext-uuid-1", "esnap")
	if err != nil {
		t.Fatal(err)
	}
	write(t, es, testBS, fill(testBS, 5))
	if err := fx.s.SetXattr(clone, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := fx.s.Rename("lvs-renamed"); err != nil {
		t.Fatal(err)
	}
	type view struct {
		name, uuid, alias, parent, ext string
		thin, ro, snap, clone, esnap   bool
		clusters, allocated            uint64
		data                           []byte
	}
	capture := func() map[string]view {
		m := map[string]view{}
		for _, lv := range fx.s.Lvols() {
			v := view{name: lv.Name(), uuid: lv.UUID(), alias: lv.Alias(), ext: lv.ExternalParent(),
				thin: lv.IsThin(), ro: lv.IsReadOnly(), snap: lv.IsSnapshot(), clone: lv.IsClone(),
				esnap: lv.IsEsnapClone(), clusters: lv.NumClusters(), allocated: lv.NumAllocatedClusters(),
				data: read(t, lv, 0, int(lv.Size()))}
			if p := lv.Parent(); p != nil {
				v.parent = p.UUID()
			}
			m[v.name] = v
		}
		return m
	}
	before, free := capture(), fx.s.FreeClusters()
	uuid := fx.s.UUID()
	fx.reopen(func(id string) (bdev.Device, bool) { return ext, id == "ext-uuid-1" })
	after := capture()
	if len(after) != len(before) || len(after) != 4 {
		t.Fatalf("lvols after reopen: %d, before %d", len(after), len(before))
	}
	for name, b := range before {
		a := after[name]
		if a.uuid != b.uuid || a.alias != b.alias || a.parent != b.parent || a.ext != b.ext ||
			a.thin != b.thin || a.ro != b.ro || a.snap != b.snap || a.clone != b.clone ||
			a.esnap != b.esnap || a.clusters != b.clusters || a.allocated != b.allocated {
			t.Errorf("lvol %s: before %+v after %+v", name, b, a)
		}
		if !bytes.Equal(a.data, b.data) {
			t.Errorf("lvol %s: data differs after reopen", name)
		}
	}
	if fx.s.FreeClusters() != free || fx.s.UUID() != uuid || fx.s.Name() != "lvs-renamed" {
		t.Fatalf("store after reopen: free %d (want %d) uuid %s name %s", fx.s.FreeClusters(), free, fx.s.UUID(), fx.s.Name())
	}
	if v, err := fx.s.GetXattr(fx.get("clone"), "k"); err != nil || v != "v" {
		t.Fatalf("xattr after reopen: %q %v", v, err)
	}
	if v, err := fx.s.GetXattr(fx.get("snap"), "user_created"); err != nil || v != "true" {
		t.Fatalf("snapshot xattr after reopen: %q %v", v, err)
	}
	if _, err := fx.s.GetXattr(fx.get("clone"), "missing"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("missing xattr: %v, want ENOENT", err)
	}
}

func TestLookup(t *testing.T) {
	fx := newFixture(t)
	lv := fx.lvol("vol", testCS, true)
	for _, key := range []string{"vol", lv.UUID(), "lvs0/vol"} {
		got, err := fx.s.Lvol(key)
		if err != nil || got != lv {
			t.Errorf("Lvol(%q) = %v, %v", key, got, err)
		}
	}
	for _, key := range []string{"", "nope", "other/vol", "lvs0/"} {
		if _, err := fx.s.Lvol(key); !errors.Is(err, syscall.ENODEV) {
			t.Errorf("Lvol(%q): %v, want ENODEV", key, err)
		}
	}
}

func TestLvolNames(t *testing.T) {
	fx := newFixture(t)
	fx.lvol("taken", testCS, true)
	tests := []struct {
		name string
		want error
	}{
		{"taken", syscall.EEXIST},
		{"", syscall.EINVAL},
		{strings.Repeat("x", 256), syscall.EINVAL},
		{strings.Repeat("x", 255), nil},
		{"a", nil},
	}
	for _, tt := range tests {
		_, err := fx.s.CreateLvol(tt.name, testCS, true)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("CreateLvol(%q): %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestSizesAndThick(t *testing.T) {
	fx := newFixture(t)
	total := fx.s.FreeClusters()
	tests := []struct {
		size     uint64
		thin     bool
		clusters uint64
	}{
		{1, true, 1},
		{testCS, true, 1},
		{testCS + 1, true, 2},
		{3*testCS - 512, false, 3},
		{0, true, 0},
	}
	allocated := uint64(0)
	for i, tt := range tests {
		lv := fx.lvol(string(rune('a'+i)), tt.size, tt.thin)
		if lv.NumClusters() != tt.clusters || lv.Size() != int64(tt.clusters*testCS) {
			t.Errorf("size %d: %d clusters (%d bytes), want %d", tt.size, lv.NumClusters(), lv.Size(), tt.clusters)
		}
		if !tt.thin {
			allocated += tt.clusters
			if lv.NumAllocatedClusters() != tt.clusters || !bytes.Equal(read(t, lv, 0, int(lv.Size())), make([]byte, lv.Size())) {
				t.Errorf("thick lvol: %d allocated or not zeroed", lv.NumAllocatedClusters())
			}
		}
	}
	if got := fx.s.FreeClusters(); got != total-allocated {
		t.Fatalf("free clusters %d, want %d", got, total-allocated)
	}
	if _, err := fx.s.CreateLvol("huge", (total+1)*testCS, false); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("thick lvol larger than the store: %v, want ENOSPC", err)
	}
	if _, err := fx.s.CreateLvol("thin-huge", 100*total*testCS, true); err != nil {
		t.Fatalf("thin lvol larger than the store: %v", err)
	}
}

func TestIOErrors(t *testing.T) {
	fx := newFixture(t)
	lv := fx.lvol("v", 2*testCS, true)
	snap, err := fx.s.Snapshot(lv, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, testBS)
	if _, err := lv.WriteAt(buf, 2*testCS); err == nil {
		t.Error("write past the end succeeded")
	}
	if _, err := lv.ReadAt(buf[:100], 0); err == nil {
		t.Error("misaligned read succeeded")
	}
	if _, err := snap.WriteAt(buf, 0); err == nil {
		t.Error("write to a snapshot succeeded")
	}
	if err := snap.WriteZeroes(0, testBS); err == nil {
		t.Error("write zeroes to a snapshot succeeded")
	}
	if err := fx.s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lv.ReadAt(buf, 0); err == nil {
		t.Error("read after store close succeeded")
	}
	fx.reopen(nil)
}
