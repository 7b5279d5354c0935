package errinject

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
)

// BenchmarkPassThrough compares 4 KiB writes and reads on an aio file with
// and without an unarmed error bdev over it: the cost a node pays for
// --disk-error-injection when no fault is armed.
func BenchmarkPassThrough(b *testing.B) {
	path := filepath.Join(b.TempDir(), "disk.img")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	base, err := aio.Open(path, aio.Options{Size: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer base.Close()
	for _, tc := range []struct {
		name string
		dev  bdev.Device
	}{{"aio", base}, {"error-over-aio", New(base)}} {
		b.Run(tc.name+"/write", func(b *testing.B) {
			b.SetBytes(4096)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				var i int64
				for pb.Next() {
					if _, err := tc.dev.WriteAt(buf, (i%16384)*4096); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
		b.Run(tc.name+"/read", func(b *testing.B) {
			b.SetBytes(4096)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				var i int64
				for pb.Next() {
					if _, err := tc.dev.ReadAt(buf, (i%16384)*4096); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
