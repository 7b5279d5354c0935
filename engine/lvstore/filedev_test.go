package lvstore

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

// fileDev is a file-backed bdev.Device for tests (engine/bdev/aio is
// written elsewhere; this package must not depend on it).
type fileDev struct {
	f      *os.File
	size   int64
	bs     int
	closed atomic.Bool

	flushes   atomic.Int64 // Flush calls
	fuaWrites atomic.Int64 // WriteAtFUA calls
}

func openFileDev(path string, size int64, bs int) (*fileDev, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return &fileDev{f: f, size: size, bs: bs}, nil
}

func (d *fileDev) check(off int64, n int) error {
	if d.closed.Load() {
		return bdev.ErrClosed
	}
	return bdev.CheckRange(off, int64(n), d.size, d.bs)
}

func (d *fileDev) ReadAt(p []byte, off int64) (int, error) {
	if err := d.check(off, len(p)); err != nil {
		return 0, fmt.Errorf("file dev read %d at %d: %w", len(p), off, err)
	}
	return d.f.ReadAt(p, off)
}

func (d *fileDev) WriteAt(p []byte, off int64) (int, error) {
	if err := d.check(off, len(p)); err != nil {
		return 0, fmt.Errorf("file dev write %d at %d: %w", len(p), off, err)
	}
	return d.f.WriteAt(p, off)
}

func (d *fileDev) Flush() error {
	if d.closed.Load() {
		return bdev.ErrClosed
	}
	d.flushes.Add(1)
	return d.f.Sync()
}

// WriteAtFUA writes and syncs; durable, which is all the store may rely
// on, though it does not spare the rest of the file as aio's does.
func (d *fileDev) WriteAtFUA(p []byte, off int64) (int, error) {
	if err := d.check(off, len(p)); err != nil {
		return 0, fmt.Errorf("file dev write FUA %d at %d: %w", len(p), off, err)
	}
	d.fuaWrites.Add(1)
	n, err := d.f.WriteAt(p, off)
	if err != nil {
		return n, err
	}
	return n, d.f.Sync()
}

func (d *fileDev) Unmap(off, length int64) error { return d.WriteZeroes(off, length) }

func (d *fileDev) WriteZeroes(off, length int64) error {
	if err := d.check(off, int(length)); err != nil {
		return err
	}
	zero := make([]byte, min(length, 1<<20))
	for length > 0 {
		n := min(length, int64(len(zero)))
		if _, err := d.f.WriteAt(zero[:n], off); err != nil {
			return err
		}
		off, length = off+n, length-n
	}
	return nil
}

func (d *fileDev) Size() int64    { return d.size }
func (d *fileDev) BlockSize() int { return d.bs }
func (d *fileDev) Close() error {
	d.closed.Store(true)
	return d.f.Close()
}

// memDev is an in-memory device, used as an external snapshot and as a
// shallow-copy destination.
type memDev struct {
	b  []byte
	bs int
}

func newMemDev(size int64, bs int) *memDev { return &memDev{b: make([]byte, size), bs: bs} }

func (d *memDev) ReadAt(p []byte, off int64) (int, error) {
	if err := bdev.CheckRange(off, int64(len(p)), int64(len(d.b)), d.bs); err != nil {
		return 0, err
	}
	return copy(p, d.b[off:]), nil
}

func (d *memDev) WriteAt(p []byte, off int64) (int, error) {
	if err := bdev.CheckRange(off, int64(len(p)), int64(len(d.b)), d.bs); err != nil {
		return 0, err
	}
	return copy(d.b[off:], p), nil
}

func (d *memDev) Flush() error                   { return nil }
func (d *memDev) Unmap(off, length int64) error  { return d.WriteZeroes(off, length) }
func (d *memDev) WriteZeroes(off, n int64) error { clear(d.b[off : off+n]); return nil }
func (d *memDev) Size() int64                    { return int64(len(d.b)) }
func (d *memDev) BlockSize() int                 { return d.bs }
func (d *memDev) Close() error                   { return nil }

// quiet keeps test output readable.
var quiet = WithLogger(slog.New(slog.DiscardHandler))

// Test geometry: small clusters keep tests fast.
const (
	testCS   = 64 << 10
	testBS   = 4096
	testSize = 32 << 20
)

type fixture struct {
	t    *testing.T
	path string
	dev  *fileDev
	s    *Store
}

// newFixture creates a store in a temporary file.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	dev, err := openFileDev(path, testSize, testBS)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Create(dev, "lvs0", testCS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t, path: path, dev: dev, s: s}
	t.Cleanup(func() { fx.dev.Close() })
	return fx
}

// reopen closes the store and the file and examines the file again.
func (fx *fixture) reopen(resolve ExternalResolver) {
	fx.t.Helper()
	if err := fx.s.Close(); err != nil {
		fx.t.Fatal(err)
	}
	fx.dev.Close()
	dev, err := openFileDev(fx.path, testSize, testBS)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.dev = dev
	s, err := Open(dev, resolve, quiet)
	if err != nil {
		fx.t.Fatalf("open after close: %v", err)
	}
	fx.s = s
}

func (fx *fixture) lvol(name string, size uint64, thin bool) *Lvol {
	fx.t.Helper()
	lv, err := fx.s.CreateLvol(name, size, thin)
	if err != nil {
		fx.t.Fatal(err)
	}
	return lv
}

func (fx *fixture) get(name string) *Lvol {
	fx.t.Helper()
	lv, err := fx.s.Lvol(name)
	if err != nil {
		fx.t.Fatal(err)
	}
	return lv
}

// fill returns a block-sized buffer of n bytes holding a pattern for tag.
func fill(n int, tag byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = tag + byte(i/4096)
	}
	return b
}

func write(t *testing.T, d bdev.Device, off int64, p []byte) {
	t.Helper()
	if _, err := d.WriteAt(p, off); err != nil {
		t.Fatalf("write %d at %d: %v", len(p), off, err)
	}
}

func read(t *testing.T, d bdev.Device, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := d.ReadAt(p, off); err != nil {
		t.Fatalf("read %d at %d: %v", n, off, err)
	}
	return p
}

func quiet0() *slog.Logger { return slog.New(slog.DiscardHandler) }
