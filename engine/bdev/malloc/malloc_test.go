package malloc

import (
	"bytes"
	"sync"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
)

func TestNewRejectsBadGeometry(t *testing.T) {
	tests := []struct {
		blocks uint64
		bs     int
	}{
		{0, 512},
		{8, 0},
		{8, 511},
		{8, 1000},
		{8, 256},
		{8, 128 << 10},
		{1 << 40, 4096},
	}
	for _, tt := range tests {
		if _, err := New(tt.blocks, tt.bs); err == nil {
			t.Errorf("New(%d, %d) succeeded, want an error", tt.blocks, tt.bs)
		}
	}
}

func TestIO(t *testing.T) {
	const bs = 512
	const size = 300 << 10 // crosses several chunks, not a whole number of them
	tests := []bdevtest.Case[*Device]{
		{
			Name: "write read across chunks",
			Run:  func(d *Device) error { _, err := d.WriteAt(bdevtest.Pattern(130<<10, 1), 60<<10); return err },
			Check: func(t *testing.T, d *Device) {
				bdevtest.Expect(t, d, 60<<10, bdevtest.Pattern(130<<10, 1))
				bdevtest.Expect(t, d, 0, make([]byte, 60<<10))
			},
		},
		{
			Name: "unwritten reads zeros",
			Run:  func(d *Device) error { return nil },
			Check: func(t *testing.T, d *Device) {
				bdevtest.Expect(t, d, 0, make([]byte, size))
			},
		},
		{
			Name: "write zeroes part of a chunk",
			Run: func(d *Device) error {
				if _, err := d.WriteAt(bdevtest.Pattern(8192, 3), 0); err != nil {
					return err
				}
				return d.WriteZeroes(1024, 2048)
			},
			Check: func(t *testing.T, d *Device) {
				want := bdevtest.Pattern(8192, 3)
				clear(want[1024:3072])
				bdevtest.Expect(t, d, 0, want)
			},
		},
		{
			Name: "unmap whole chunks reads zeros",
			Run: func(d *Device) error {
				if _, err := d.WriteAt(bdevtest.Pattern(size, 5), 0); err != nil {
					return err
				}
				return d.Unmap(0, size)
			},
			Check: func(t *testing.T, d *Device) {
				bdevtest.Expect(t, d, 0, make([]byte, size))
			},
		},
		{Name: "flush", Run: func(d *Device) error { return d.Flush() }},
		{Name: "read past end", Run: func(d *Device) error { _, err := d.ReadAt(make([]byte, bs), size); return err }, Want: bdev.ErrOutOfRange},
		{Name: "write straddling end", Run: func(d *Device) error { _, err := d.WriteAt(make([]byte, 2*bs), size-bs); return err }, Want: bdev.ErrOutOfRange},
		{Name: "negative offset", Run: func(d *Device) error { _, err := d.ReadAt(make([]byte, bs), -bs); return err }, Want: bdev.ErrOutOfRange},
		{Name: "misaligned offset", Run: func(d *Device) error { _, err := d.WriteAt(make([]byte, bs), 100); return err }, Want: bdev.ErrMisaligned},
		{Name: "misaligned length", Run: func(d *Device) error { _, err := d.ReadAt(make([]byte, 100), 0); return err }, Want: bdev.ErrMisaligned},
		{Name: "unmap out of range", Run: func(d *Device) error { return d.Unmap(0, size+bs) }, Want: bdev.ErrOutOfRange},
		{Name: "zeroes out of range", Run: func(d *Device) error { return d.WriteZeroes(size, bs) }, Want: bdev.ErrOutOfRange},
		{Name: "io after close", Run: func(d *Device) error {
			if err := d.Close(); err != nil {
				return err
			}
			_, err := d.ReadAt(make([]byte, bs), 0)
			return err
		}, Want: bdev.ErrClosed},
		{Name: "double close", Run: func(d *Device) error {
			d.Close()
			return d.Close()
		}, Want: bdev.ErrClosed},
	}
	bdevtest.Run(t, tests, size, bs, func(t *testing.T) *Device {
		d, err := New(size/bs, bs)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestConcurrentWriters has goroutines write their own regions, straddling
// chunk boundaries, while others zero and read; under -race this checks the
// striped locking.
func TestConcurrentWriters(t *testing.T) {
	const bs = 4096
	d, err := New(256, bs) // 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	const workers = 8
	region := d.Size() / workers
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, region)
			for i := range 20 {
				p := bdevtest.Pattern(int(region), byte(w*31+i))
				if _, err := d.WriteAt(p, int64(w)*region); err != nil {
					t.Error(err)
					return
				}
				if _, err := d.ReadAt(buf, int64(w)*region); err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(buf, p) {
					t.Errorf("worker %d round %d: read back differs", w, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkWrite4K(b *testing.B) {
	d, err := New(1<<15, 4096)
	if err != nil {
		b.Fatal(err)
	}
	p := bdevtest.Pattern(4096, 1)
	b.SetBytes(4096)
	b.RunParallel(func(pb *testing.PB) {
		i := int64(0)
		for pb.Next() {
			if _, err := d.WriteAt(p, (i%(1<<15))*4096); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}
