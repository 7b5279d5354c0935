package aio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
)

// allocated returns the bytes the file system has allocated to path.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestOpenRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		opts Options
	}{
		{"missing without create", filepath.Join(dir, "missing"), Options{Size: 4096}},
		{"create without size", filepath.Join(dir, "nosize"), Options{Create: true}},
		{"create read-only", filepath.Join(dir, "ro"), Options{Create: true, ReadOnly: true, Size: 4096}},
		{"block size not a power of two", existing, Options{BlockSize: 1000}},
		{"block size too small", existing, Options{BlockSize: 256}},
		{"size not a block multiple", existing, Options{Size: 1000}},
		{"negative size", existing, Options{Size: -512}},
		{"empty file", empty, Options{}},
		{"directory", dir, Options{}},
		{"character device", "/dev/null", Options{Size: 4096}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(tt.path, tt.opts)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%s, %+v) succeeded, want an error", tt.path, tt.opts)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nosize")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed create left a file behind: %v", err)
	}
}

func TestIO(t *testing.T) {
	const bs = 4096
	const size = 1 << 20
	tests := []bdevtest.Case[*Device]{
		{
			Name: "write read",
			Run:  func(d *Device) error { _, err := d.WriteAt(bdevtest.Pattern(3*bs, 1), 5*bs); return err },
			Check: func(t *testing.T, d *Device) {
				bdevtest.Expect(t, d, 5*bs, bdevtest.Pattern(3*bs, 1))
				bdevtest.Expect(t, d, 0, make([]byte, 5*bs))
			},
		},
		{
			Name:  "new file is sparse and reads zeros",
			Run:   func(d *Device) error { return nil },
			Check: func(t *testing.T, d *Device) { bdevtest.Expect(t, d, 0, make([]byte, size)) },
		},
		{
			Name: "flush",
			Run: func(d *Device) error {
				if _, err := d.WriteAt(bdevtest.Pattern(bs, 2), 0); err != nil {
					return err
				}
				return d.Flush()
			},
			Check: func(t *testing.T, d *Device) { bdevtest.Expect(t, d, 0, bdevtest.Pattern(bs, 2)) },
		},
		{
			Name: "write zeroes",
			Run: func(d *Device) error {
				if _, err := d.WriteAt(bdevtest.Pattern(4*bs, 3), 0); err != nil {
					return err
				}
				return d.WriteZeroes(bs, 2*bs)
			},
			Check: func(t *testing.T, d *Device) {
				want := bdevtest.Pattern(4*bs, 3)
				clear(want[bs : 3*bs])
				bdevtest.Expect(t, d, 0, want)
			},
		},
		{
			Name: "unmap frees blocks and reads zeros",
			Run: func(d *Device) error {
				if _, err := d.WriteAt(bdevtest.Pattern(size, 4), 0); err != nil {
					return err
				}
				if err := d.Flush(); err != nil {
					return err
				}
				return d.Unmap(0, size)
			},
			Check: func(t *testing.T, d *Device) {
				bdevtest.Expect(t, d, 0, make([]byte, size))
				if a := allocated(t, d.Path()); a >= size/2 {
					t.Errorf("after unmapping everything %d bytes stay allocated", a)
				}
			},
		},
		{Name: "zero-length zeroes", Run: func(d *Device) error { return d.WriteZeroes(0, 0) }},
		{Name: "read past end", Run: func(d *Device) error { _, err := d.ReadAt(make([]byte, bs), size); return err }, Want: bdev.ErrOutOfRange},
		{Name: "write straddling end", Run: func(d *Device) error { _, err := d.WriteAt(make([]byte, 2*bs), size-bs); return err }, Want: bdev.ErrOutOfRange},
		{Name: "negative offset", Run: func(d *Device) error { _, err := d.WriteAt(make([]byte, bs), -bs); return err }, Want: bdev.ErrOutOfRange},
		{Name: "misaligned", Run: func(d *Device) error { _, err := d.ReadAt(make([]byte, bs), 512); return err }, Want: bdev.ErrMisaligned},
		{Name: "unmap out of range", Run: func(d *Device) error { return d.Unmap(size-bs, 2*bs) }, Want: bdev.ErrOutOfRange},
		{Name: "zeroes misaligned", Run: func(d *Device) error { return d.WriteZeroes(0, 100) }, Want: bdev.ErrMisaligned},
		{Name: "io after close", Run: func(d *Device) error {
			if err := d.Close(); err != nil {
				return err
			}
			_, err := d.WriteAt(make([]byte, bs), 0)
			return err
		}, Want: bdev.ErrClosed},
		{Name: "flush after close", Run: func(d *Device) error {
			d.Close()
			return d.Flush()
		}, Want: bdev.ErrClosed},
	}
	bdevtest.Run(t, tests, size, bs, func(t *testing.T) *Device {
		d, err := Open(filepath.Join(t.TempDir(), "disk"), Options{BlockSize: bs, Create: true, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}

func TestCreateIsSparse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	const size = 64 << 20
	d, err := Open(path, Options{Create: true, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.BlockSize() != 512 {
		t.Errorf("default block size %d, want 512", d.BlockSize())
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != size {
		t.Errorf("file size %d, want %d", st.Size(), size)
	}
	if a := allocated(t, path); a > 1<<20 {
		t.Errorf("new %d-byte file has %d bytes allocated; want it sparse", size, a)
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(path, bdevtest.Pattern(8192, 9), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Size() != 8192 {
		t.Fatalf("size %d, want the file's 8192", d.Size())
	}
	bdevtest.Expect(t, d, 0, bdevtest.Pattern(8192, 9))
	writes := map[string]func() error{
		"write":        func() error { _, err := d.WriteAt(make([]byte, 512), 0); return err },
		"unmap":        func() error { return d.Unmap(0, 512) },
		"write zeroes": func() error { return d.WriteZeroes(0, 512) },
		"write FUA":    func() error { _, err := d.WriteAtFUA(make([]byte, 512), 0); return err },
	}
	for name, op := range writes {
		if err := op(); !errors.Is(err, bdev.ErrReadOnly) {
			t.Errorf("%s on a read-only device: %v, want ErrReadOnly", name, err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Errorf("flush of a read-only device: %v", err)
	}
	bdevtest.Expect(t, d, 0, bdevtest.Pattern(8192, 9))
}

// TestShortFile opens a file shorter than the requested size: the tail
// reads as zeros, and a write there extends the file.
func TestShortFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(path, bdevtest.Pattern(1536, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, Options{Size: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := append(bdevtest.Pattern(1536, 1), make([]byte, 8192-1536)...)
	bdevtest.Expect(t, d, 0, want)
	bdevtest.Expect(t, d, 4096, make([]byte, 4096))
	if _, err := d.WriteAt(bdevtest.Pattern(512, 2), 7680); err != nil {
		t.Fatal(err)
	}
	copy(want[7680:], bdevtest.Pattern(512, 2))
	bdevtest.Expect(t, d, 0, want)
}

func TestSizeLimitsLargerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(path, bdevtest.Pattern(8192, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, Options{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ReadAt(make([]byte, 512), 4096); !errors.Is(err, bdev.ErrOutOfRange) {
		t.Errorf("read past the given size: %v, want ErrOutOfRange", err)
	}
}

func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	d, err := Open(path, Options{BlockSize: 4096, Create: true, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteAt(bdevtest.Pattern(64<<10, 7), 128<<10); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteZeroes(128<<10, 4096); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Create on an existing file opens it, without truncating.
	d, err = Open(path, Options{BlockSize: 4096, Create: true, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := bdevtest.Pattern(64<<10, 7)
	clear(want[:4096])
	bdevtest.Expect(t, d, 128<<10, want)
}

func TestConcurrentIO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	d, err := Open(path, Options{BlockSize: 4096, Create: true, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const workers = 4
	region := d.Size() / workers
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				p := bdevtest.Pattern(int(region), byte(w*17+i))
				if _, err := d.WriteAt(p, int64(w)*region); err != nil {
					t.Error(err)
					return
				}
				got := make([]byte, region)
				if _, err := d.ReadAt(got, int64(w)*region); err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, p) {
					t.Errorf("worker %d round %d: data differs", w, i)
					return
				}
				if err := d.Flush(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestWriteZeroesFallback takes the path used where holes cannot be
// punched: zeros are written instead.
func TestWriteZeroesFallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	d, err := Open(path, Options{Create: true, Size: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.punch = func(uintptr, int64, int64) error { return errPunchUnsupported }
	if _, err := d.WriteAt(bdevtest.Pattern(3<<20, 5), 0); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteZeroes(512, 3<<20-1024); err != nil {
		t.Fatal(err)
	}
	want := bdevtest.Pattern(3<<20, 5)
	clear(want[512 : 3<<20-512])
	bdevtest.Expect(t, d, 0, want)
	if err := d.Unmap(0, 512); err != nil {
		t.Fatal(err)
	}
	clear(want[:512])
	bdevtest.Expect(t, d, 0, want)
}
