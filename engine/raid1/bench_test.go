package raid1

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/nbd/nbdtest"
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

// BenchmarkWriteFanout measures what one write costs when raid1 fans it out
// to every member, one write at a time (queue depth 1, as fio's
// randwrite-4k-qd1 job in refbench): raid1 over two and three members
// against one member written directly, for 4 KiB and 1 MiB writes, with
// members in memory (malloc, the cost of raid1's own bookkeeping) and in
// files (aio, without O_DIRECT or fsync, so the page cache's cost too)
// or behind an NBD server on a Unix socket (a remote replica's round
// trip, without the network).
// Offsets stride through the device so that no write lands where the last
// one did.
func BenchmarkWriteFanout(b *testing.B) {
	const size = 64 << 20
	kinds := []struct {
		name string
		open func(b *testing.B, i int) bdev.Device
	}{
		{"malloc", func(b *testing.B, _ int) bdev.Device {
			d, err := malloc.New(size/4096, 4096)
			if err != nil {
				b.Fatal(err)
			}
			return d
		}},
		{"nbd", func(b *testing.B, _ int) bdev.Device {
			d, err := malloc.New(size/4096, 4096)
			if err != nil {
				b.Fatal(err)
			}
			return nbdtest.Serve(b, "unix", d)
		}},
		{"file", func(b *testing.B, i int) bdev.Device {
			d, err := aio.Open(filepath.Join(b.TempDir(), fmt.Sprintf("m%d", i)), aio.Options{BlockSize: 4096, Create: true, Size: size})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			return d
		}},
	}
	for _, kind := range kinds {
		for _, members := range []int{1, 2, 3} {
			for _, n := range []int{4 << 10, 1 << 20} {
				name := fmt.Sprintf("%s/direct/%dKiB", kind.name, n>>10)
				if members > 1 {
					name = fmt.Sprintf("%s/raid1x%d/%dKiB", kind.name, members, n>>10)
				}
				b.Run(name, func(b *testing.B) {
					var d bdev.Device = kind.open(b, 0)
					if members > 1 {
						devs := []bdev.Device{d}
						for i := 1; i < members; i++ {
							devs = append(devs, kind.open(b, i))
						}
						r := mirrorOf(b, devs...)
						b.Cleanup(func() { r.Close() })
						d = r
					}
					p := make([]byte, n)
					slots := int64(size / n)
					b.SetBytes(int64(n))
					for i := int64(0); b.Loop(); i++ {
						if _, err := d.WriteAt(p, (i*7919%slots)*int64(n)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
