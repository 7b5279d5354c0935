//go:build linux

package aio

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev/bdevtest"
)

// TestWritesLongerThanAPiece: a write longer than writePiece lands whole
// and in order through each write path, and a splice reaches the file in
// pieces of at most writePiece bytes, so that ext4 never builds a page
// cache folio larger than one piece from a single write.
func TestWritesLongerThanAPiece(t *testing.T) {
	const bs = 4096
	const size = 4 * writePiece
	n := 2*writePiece + 3*bs // three pieces, the last one short
	off := int64(bs)
	open := func(t *testing.T) *Device {
		d, err := Open(filepath.Join(t.TempDir(), "disk.img"), Options{Create: true, Size: size, BlockSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	tests := []struct {
		name  string
		write func(d *Device, p []byte) error
	}{
		{"write", func(d *Device, p []byte) error { _, err := d.WriteAt(p, off); return err }},
		{"write FUA", func(d *Device, p []byte) error { _, err := d.WriteAtFUA(p, off); return err }},
		{"splice", func(d *Device, p []byte) error {
			src := &bdevtest.BufferSource{B: p}
			ok, err := d.WriteFromSplice(src, len(p), off)
			if !ok || err != nil {
				return errors.Join(errors.New("splice declined or failed"), err)
			}
			if len(src.B) != 0 {
				t.Errorf("splice left %d bytes in the source", len(src.B))
			}
			want := []int{writePiece, writePiece, 3 * bs}
			if len(src.Pieces) != len(want) {
				t.Fatalf("splice pieces %v, want %v", src.Pieces, want)
			}
			for i := range want {
				if src.Pieces[i] != want[i] {
					t.Fatalf("splice pieces %v, want %v", src.Pieces, want)
				}
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := open(t)
			p := bdevtest.Pattern(n, 7)
			if err := tc.write(d, p); err != nil {
				t.Fatal(err)
			}
			bdevtest.Expect(t, d, off, p)
			bdevtest.Expect(t, d, 0, make([]byte, off))
			bdevtest.Expect(t, d, off+int64(n), make([]byte, size-off-int64(n)))
		})
	}
}
