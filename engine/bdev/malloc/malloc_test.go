package malloc

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

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
	tests := []struct {
		name string
		// run performs the operation on d and returns its error.
		run func(d *Device) error
		// want is the expected error (nil for success).
		want error
		// check inspects the device afterwards; nil skips.
		check func(t *testing.T, d *Device)
	}{
		{
			name: "write read across chunks",
			run:  func(d *Device) error { _, err := d.WriteAt(pattern(130<<10, 1), 60<<10); return err },
			check: func(t *testing.T, d *Device) {
				expect(t, d, 60<<10, pattern(130<<10, 1))
				expect(t, d, 0, make([]byte, 60<<10))
			},
		},
		{
			name: "unwritten reads zeros",
			run:  func(d *Device) error { return nil },
			check: func(t *testing.T, d *Device) {
				expect(t, d, 0, make([]byte, size))
			},
		},
		{
			name: "write zeroes part of a chunk",
			run: func(d *Device) error {
				if _, err := d.WriteAt(pattern(8192, 3), 0); err != nil {
					return err
				}
				return d.WriteZeroes(1024, 2048)
			},
			check: func(t *testing.T, d *Device) {
				want := pattern(8192, 3)
				clear(want[1024:3072])
				expect(t, d, 0, want)
			},
		},
		{
			name: "unmap whole chunks reads zeros",
			run: func(d *Device) error {
				if _, err := d.WriteAt(pattern(size, 5), 0); err != nil {
					return err
				}
				return d.Unmap(0, size)
			},
			check: func(t *testing.T, d *Device) {
				expect(t, d, 0, make([]byte, size))
			},
		},
		{name: "flush", run: func(d *Device) error { return d.Flush() }},
		{name: "read past end", run: func(d *Device) error { _, err := d.ReadAt(make([]byte, bs), size); return err }, want: bdev.ErrOutOfRange},
		{name: "write straddling end", run: func(d *Device) error { _, err := d.WriteAt(make([]byte, 2*bs), size-bs); return err }, want: bdev.ErrOutOfRange},
		{name: "negative offset", run: func(d *Device) error { _, err := d.ReadAt(make([]byte, bs), -bs); return err }, want: bdev.ErrOutOfRange},
		{name: "misaligned offset", run: func(d *Device) error { _, err := d.WriteAt(make([]byte, bs), 100); return err }, want: bdev.ErrMisaligned},
		{name: "misaligned length", run: func(d *Device) error { _, err := d.ReadAt(make([]byte, 100), 0); return err }, want: bdev.ErrMisaligned},
		{name: "unmap out of range", run: func(d *Device) error { return d.Unmap(0, size+bs) }, want: bdev.ErrOutOfRange},
		{name: "zeroes out of range", run: func(d *Device) error { return d.WriteZeroes(size, bs) }, want: bdev.ErrOutOfRange},
		{name: "io after close", run: func(d *Device) error {
			if err := d.Close(); err != nil {
				return err
			}
			_, err := d.ReadAt(make([]byte, bs), 0)
			return err
		}, want: bdev.ErrClosed},
		{name: "double close", run: func(d *Device) error {
			d.Close()
			return d.Close()
		}, want: bdev.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(size/bs, bs)
			if err != nil {
				t.Fatal(err)
			}
			if d.Size() != size || d.BlockSize() != bs {
				t.Fatalf("geometry %d/%d, want %d/%d", d.Size(), d.BlockSize(), size, bs)
			}
			err = tt.run(d)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func expect(t *testing.T, d bdev.Device, off int64, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if n, err := d.ReadAt(got, off); err != nil || n != len(got) {
		t.Fatalf("read %d bytes at %d: n=%d err=%v", len(got), off, n, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("data at %d differs from byte %d on", off, i)
	}
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
				p := pattern(int(region), byte(w*31+i))
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
	p := pattern(4096, 1)
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
