package workload

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fileDevice is a block device over a real file: writes with pwrite,
// Flush with fsync.
type fileDevice struct {
	f    *os.File
	size int64
}

func newFileDevice(t *testing.T, size int64) *fileDevice {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "disk.img"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fileDevice{f: f, size: size}
}

func (d *fileDevice) ReadAt(p []byte, off int64) (int, error)  { return d.f.ReadAt(p, off) }
func (d *fileDevice) WriteAt(p []byte, off int64) (int, error) { return d.f.WriteAt(p, off) }
func (d *fileDevice) Flush() error                             { return d.f.Sync() }
func (d *fileDevice) Size() int64                              { return d.size }

// faultyDevice fails writes with errs[i%len(errs)] once more than okWrites
// writes have succeeded; a nil entry lets the write through.
type faultyDevice struct {
	Device
	okWrites int
	errs     []error
	flushErr error

	mu     sync.Mutex
	writes int
}

func (d *faultyDevice) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	n := d.writes
	d.writes++
	d.mu.Unlock()
	if n >= d.okWrites {
		if err := d.errs[(n-d.okWrites)%len(d.errs)]; err != nil {
			return 0, err
		}
	}
	return d.Device.WriteAt(p, off)
}

func (d *faultyDevice) Flush() error {
	if d.flushErr != nil {
		return d.flushErr
	}
	return d.Device.Flush()
}
