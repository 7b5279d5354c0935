//go:build linux

package lvstore

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
)

// TestWriteFromSplice: an lvol takes a splice into clusters it owns, across
// a cluster boundary, and declines one that must allocate or copy on
// write, taking nothing; WriteAt then does it.
func TestWriteFromSplice(t *testing.T) {
	dev, err := aio.Open(filepath.Join(t.TempDir(), "disk.img"), aio.Options{Create: true, Size: testSize, BlockSize: testBS})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	s, err := Create(dev, "lvs0", testCS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := s.CreateLvol("v", 4*testCS, true)
	if err != nil {
		t.Fatal(err)
	}
	fill := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	// Own clusters 0 and 1.
	if _, err := lv.WriteAt(fill(1, 2*testCS), 0); err != nil {
		t.Fatal(err)
	}
	p := fill(2, testCS)
	off := int64(testCS / 2) // straddles clusters 0 and 1
	src := &bdevtest.BufferSource{B: p}
	ok, err := lv.WriteFromSplice(src, len(p), off)
	if !ok || err != nil || len(src.B) != 0 {
		t.Fatalf("splice into owned clusters: ok %v, err %v, %d bytes left", ok, err, len(src.B))
	}
	got := make([]byte, 2*testCS)
	if _, err := lv.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := append(append(fill(1, testCS/2), p...), fill(1, testCS/2)...)
	if !bytes.Equal(got, want) {
		t.Fatal("lvol content after the splice differs from what was written")
	}

	// Cluster 2 is not allocated: declined, nothing taken.
	src = &bdevtest.BufferSource{B: fill(3, testCS)}
	if ok, err := lv.WriteFromSplice(src, testCS, 2*testCS); ok || err != nil || len(src.B) != testCS {
		t.Fatalf("splice into an unallocated cluster: ok %v, err %v, %d bytes left; want declined", ok, err, len(src.B))
	}
	// A snapshot makes clusters 0 and 1 shared: a write must copy them.
	if _, err := s.Snapshot(lv, "snap", nil); err != nil {
		t.Fatal(err)
	}
	src = &bdevtest.BufferSource{B: fill(4, testCS)}
	if ok, _ := lv.WriteFromSplice(src, testCS, 0); ok {
		t.Fatal("splice into clusters the snapshot holds was taken; want declined (copy on write)")
	}
	// Out of range: declined, so WriteAt reports it.
	if ok, _ := lv.WriteFromSplice(src, testCS, 4*testCS); ok {
		t.Fatal("splice past the end was taken; want declined")
	}
	var _ bdev.SpliceWriter = lv
}
