package nbd

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/engine/bdev"
)

var errInjected = errors.New("injected device failure")

// memDevice is an in-memory bdev.Device for tests. It keeps what a flush
// made durable apart from what was written, so tests can tell whether
// FLUSH and FUA reached the device.
type memDevice struct {
	mu       sync.Mutex
	data     []byte
	durable  []byte
	block    int
	fail     atomic.Bool // every call fails with errInjected
	flushes  atomic.Int64
	ios      atomic.Int64 // requests that reached the device
	inflight atomic.Int64

	// gate, if set, is called at the start of every WriteAt with the
	// offset; tests use it to hold requests in the device.
	gate func(off int64)
}

func newMemDevice(size int64, block int) *memDevice {
	return &memDevice{data: make([]byte, size), durable: make([]byte, size), block: block}
}

func (d *memDevice) check(off, n int64) error {
	d.ios.Add(1)
	if d.fail.Load() {
		return errInjected
	}
	if err := bdev.CheckRange(off, n, int64(len(d.data)), d.block); err != nil {
		return fmt.Errorf("mem device %d bytes at %d: %w", n, off, err)
	}
	return nil
}

func (d *memDevice) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	return copy(p, d.data[off:]), nil
}

func (d *memDevice) WriteAt(p []byte, off int64) (int, error) {
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	if d.gate != nil {
		d.gate(off)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	return copy(d.data[off:], p), nil
}

func (d *memDevice) Flush() error {
	d.ios.Add(1)
	if d.fail.Load() {
		return errInjected
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	copy(d.durable, d.data)
	d.flushes.Add(1)
	return nil
}

func (d *memDevice) Unmap(off, length int64) error { return d.WriteZeroes(off, length) }

func (d *memDevice) WriteZeroes(off, length int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(off, length); err != nil {
		return err
	}
	clear(d.data[off : off+length])
	return nil
}

func (d *memDevice) Size() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int64(len(d.data))
}

func (d *memDevice) BlockSize() int { return d.block }
func (d *memDevice) Close() error   { return nil }

// snapshot returns copies of the written and the durable contents.
func (d *memDevice) snapshot() (data, durable []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.data...), append([]byte(nil), d.durable...)
}

// fileDevice is a bdev.Device over a regular file, for interop tests.
type fileDevice struct {
	f    *os.File
	size int64
}

func openFileDevice(path string, size int64) (*fileDevice, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open file device: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("size file device: %w", err)
	}
	return &fileDevice{f: f, size: size}, nil
}

func (d *fileDevice) ReadAt(p []byte, off int64) (int, error) {
	if err := bdev.CheckRange(off, int64(len(p)), d.size, 512); err != nil {
		return 0, err
	}
	return d.f.ReadAt(p, off)
}

func (d *fileDevice) WriteAt(p []byte, off int64) (int, error) {
	if err := bdev.CheckRange(off, int64(len(p)), d.size, 512); err != nil {
		return 0, err
	}
	return d.f.WriteAt(p, off)
}

func (d *fileDevice) Flush() error { return d.f.Sync() }

func (d *fileDevice) Unmap(off, length int64) error {
	return bdev.CheckRange(off, length, d.size, 512)
}

func (d *fileDevice) WriteZeroes(off, length int64) error {
	if err := bdev.CheckRange(off, length, d.size, 512); err != nil {
		return err
	}
	zeros := make([]byte, min(length, 1<<20))
	for length > 0 {
		n := min(length, int64(len(zeros)))
		if _, err := d.f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
		length -= n
	}
	return nil
}

func (d *fileDevice) Size() int64    { return d.size }
func (d *fileDevice) BlockSize() int { return 512 }
func (d *fileDevice) Close() error   { return d.f.Close() }

// fuaDevice is a memDevice with a FUA path: WriteAtFUA makes only its own
// range durable and is counted.
type fuaDevice struct {
	*memDevice
	fuaWrites atomic.Int64
}

func (d *fuaDevice) WriteAtFUA(p []byte, off int64) (int, error) {
	n, err := d.WriteAt(p, off)
	if err != nil {
		return n, err
	}
	d.mu.Lock()
	copy(d.durable[off:], p)
	d.mu.Unlock()
	d.fuaWrites.Add(1)
	return n, nil
}
