package lvstore

import (
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

const benchSpan = 16 << 20

// benchTargets returns a thick lvol (every cluster allocated) and a plain
// file device of the same size, for comparing the 4 KiB data path.
func benchTargets(b *testing.B) map[string]bdev.Device {
	dir := b.TempDir()
	dev, err := openFileDev(filepath.Join(dir, "store.img"), 2*benchSpan, testBS)
	if err != nil {
		b.Fatal(err)
	}
	lv, err := benchStore(b, dev).CreateLvol("v", benchSpan, false)
	if err != nil {
		b.Fatal(err)
	}
	plain, err := openFileDev(filepath.Join(dir, "plain.img"), benchSpan, testBS)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { plain.Close() })
	if err := plain.WriteZeroes(0, benchSpan); err != nil {
		b.Fatal(err)
	}
	return map[string]bdev.Device{"lvol": lv, "file": plain}
}

// benchStore makes a store with 1 MiB clusters on dev, which is closed
// when the benchmark ends.
func benchStore(b *testing.B, dev bdev.Device) *Store {
	b.Cleanup(func() { dev.Close() })
	s, err := Create(dev, "bench", 1<<20, quiet)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkWrite4K(b *testing.B) {
	for name, d := range benchTargets(b) {
		b.Run(name, func(b *testing.B) {
			p := fill(testBS, 7)
			b.SetBytes(testBS)
			i := int64(0)
			for b.Loop() {
				if _, err := d.WriteAt(p, (i*7919*testBS)%benchSpan); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkRead4K(b *testing.B) {
	for name, d := range benchTargets(b) {
		b.Run(name, func(b *testing.B) {
			p := make([]byte, testBS)
			b.SetBytes(testBS)
			i := int64(0)
			for b.Loop() {
				if _, err := d.ReadAt(p, (i*7919*testBS)%benchSpan); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkWriteParallel4K measures the shared-lock write path from
// several goroutines on one lvol.
func BenchmarkWriteParallel4K(b *testing.B) {
	d := benchTargets(b)["lvol"]
	b.SetBytes(testBS)
	b.RunParallel(func(pb *testing.PB) {
		p := fill(testBS, 3)
		i := int64(0)
		for pb.Next() {
			if _, err := d.WriteAt(p, (i*7919*testBS)%benchSpan); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
