package raid1

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/malloc"
)

// BenchmarkMirror compares one malloc device with raid1 over two and three
// of them, for 4 KiB and 1 MiB writes and 4 KiB reads, run in parallel.
func BenchmarkMirror(b *testing.B) {
	const size = 64 << 20
	mk := func(b *testing.B) bdev.Device {
		d, err := malloc.New(size/4096, 4096)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	targets := []struct {
		name string
		open func(b *testing.B) bdev.Device
	}{
		{"malloc", mk},
		{"raid1x2", func(b *testing.B) bdev.Device { return mirrorOf(b, mk(b), mk(b)) }},
		{"raid1x3", func(b *testing.B) bdev.Device { return mirrorOf(b, mk(b), mk(b), mk(b)) }},
	}
	ops := []struct {
		name  string
		n     int
		write bool
	}{
		{"write4k", 4096, true},
		{"write1m", 1 << 20, true},
		{"read4k", 4096, false},
	}
	for _, tg := range targets {
		for _, op := range ops {
			b.Run(tg.name+"/"+op.name, func(b *testing.B) {
				d := tg.open(b)
				p := make([]byte, op.n)
				// Fill the device so reads touch allocated memory.
				for off := int64(0); off < size; off += 1 << 20 {
					if _, err := d.WriteAt(make([]byte, 1<<20), off); err != nil {
						b.Fatal(err)
					}
				}
				slots := size / int64(op.n)
				b.SetBytes(int64(op.n))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := int64(0)
					for pb.Next() {
						off := (i * 7919 % slots) * int64(op.n)
						var err error
						if op.write {
							_, err = d.WriteAt(p, off)
						} else {
							_, err = d.ReadAt(p, off)
						}
						if err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		}
	}
}

func mirrorOf(b *testing.B, devs ...bdev.Device) *Raid {
	var ms []Member
	for i, d := range devs {
		ms = append(ms, Member{Name: fmt.Sprintf("m%d", i), Dev: d})
	}
	r, err := New("bench", ms, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return r
}
