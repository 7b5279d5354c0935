package lvstore

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
)

// TestSmallWriteToReusedCluster: a thin lvol's first small write to a
// cluster that held another lvol's data leaves the rest of the cluster
// reading zeros, whether the disk zeroes by punching a hole (aio over a
// file) or by writing zeros.
func TestSmallWriteToReusedCluster(t *testing.T) {
	devs := []struct {
		name string
		open func(t *testing.T) bdev.Device
	}{
		{"zeros written", func(t *testing.T) bdev.Device {
			d, err := openFileDev(filepath.Join(t.TempDir(), "disk.img"), testSize, testBS)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"hole punched", func(t *testing.T) bdev.Device {
			d, err := aio.Open(filepath.Join(t.TempDir(), "disk.img"), aio.Options{Create: true, Size: testSize, BlockSize: testBS})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	for _, dt := range devs {
		t.Run(dt.name, func(t *testing.T) {
			dev := dt.open(t)
			defer dev.Close()
			s, err := Create(dev, "lvs0", testCS, quiet)
			if err != nil {
				t.Fatal(err)
			}
			// Every free cluster holds old data, then is freed.
			all := int64(s.FreeClusters()) * testCS
			old, err := s.CreateLvol("old", uint64(all), false)
			if err != nil {
				t.Fatal(err)
			}
			write(t, old, 0, bytes.Repeat([]byte{0xaa}, int(all)))
			if err := s.Delete(old); err != nil {
				t.Fatal(err)
			}
			lv, err := s.CreateLvol("v", 4*testCS, true)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 4*testCS)
			for c := range int64(4) {
				off := c*testCS + testCS/2 + c*testBS
				p := fill(testBS, byte(c+1))
				write(t, lv, off, p)
				copy(want[off:], p)
			}
			if got := read(t, lv, 0, len(want)); !bytes.Equal(got, want) {
				i := 0
				for got[i] == want[i] {
					i++
				}
				t.Fatalf("lvol reads %#x at %d, want %#x: old data shows through", got[i], i, want[i])
			}
		})
	}
}
