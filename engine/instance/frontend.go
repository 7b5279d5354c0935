package instance

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/faultline/faultline/engine/bdev"
)

// errNoEngine is the I/O error of a frontend with no engine behind it.
var errNoEngine = errors.New("no engine process behind the frontend")

// frontend is the device the node exports to workloads. It forwards every
// request to the current engine process (an NBD client of the engine's
// socket) and can be switched to another engine process without the export
// going away: Suspend holds new requests and waits for those in flight,
// Switch swaps the backend, Resume lets requests go on. When the engine
// process dies its client fails every request at once, so a workload sees
// EIO and never hangs.
type frontend struct {
	size      int64
	blockSize int

	// gate is held shared by each request and exclusively while suspended.
	gate sync.RWMutex

	mu  sync.Mutex
	dev bdev.Device
}

var _ bdev.Device = (*frontend)(nil)

func newFrontend(dev bdev.Device) *frontend {
	return &frontend{size: dev.Size(), blockSize: dev.BlockSize(), dev: dev}
}

func (f *frontend) backend() (bdev.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dev == nil {
		return nil, errNoEngine
	}
	return f.dev, nil
}

// do runs one request against the current backend.
func (f *frontend) do(op func(bdev.Device) error) error {
	f.gate.RLock()
	defer f.gate.RUnlock()
	dev, err := f.backend()
	if err != nil {
		return err
	}
	return op(dev)
}

func (f *frontend) ReadAt(p []byte, off int64) (n int, err error) {
	err = f.do(func(d bdev.Device) error { n, err = d.ReadAt(p, off); return err })
	return n, err
}

func (f *frontend) WriteAt(p []byte, off int64) (n int, err error) {
	err = f.do(func(d bdev.Device) error { n, err = d.WriteAt(p, off); return err })
	return n, err
}

// WriteFromSplice passes a large write whose payload the node's NBD server
// holds in pipes on to the engine process (bdev.SpliceWriter): its client
// splices the payload into the engine's socket, so that a workload's data
// crosses the node without being copied into and out of user space. It
// declines when the backend takes only buffers.
func (f *frontend) WriteFromSplice(src bdev.SpliceSource, n int, off int64) (ok bool, err error) {
	err = f.do(func(d bdev.Device) error {
		sw, can := d.(bdev.AsyncSpliceWriter)
		if !can {
			return nil
		}
		ok = true
		k, err := sw.StartWriteFromSplice(src, n, off)()
		if err == nil && k < n {
			err = io.ErrShortWrite
		}
		return err
	})
	return ok, err
}

var _ bdev.SpliceWriter = (*frontend)(nil)

func (f *frontend) Flush() error { return f.do(func(d bdev.Device) error { return d.Flush() }) }

func (f *frontend) Unmap(off, length int64) error {
	return f.do(func(d bdev.Device) error { return d.Unmap(off, length) })
}

func (f *frontend) WriteZeroes(off, length int64) error {
	return f.do(func(d bdev.Device) error { return d.WriteZeroes(off, length) })
}

func (f *frontend) Size() int64    { return f.size }
func (f *frontend) BlockSize() int { return f.blockSize }

// Close detaches the backend (the caller owns and closes it).
func (f *frontend) Close() error {
	f.mu.Lock()
	f.dev = nil
	f.mu.Unlock()
	return nil
}

// Suspend waits for the requests in flight and holds new ones until Resume.
func (f *frontend) Suspend() { f.gate.Lock() }

// Resume lets held requests go on.
func (f *frontend) Resume() { f.gate.Unlock() }

// CanSwitch reports why Switch would refuse dev, or nil.
func (f *frontend) CanSwitch(dev bdev.Device) error {
	if dev.Size() < f.size || dev.BlockSize() != f.blockSize {
		return fmt.Errorf("switch frontend: new engine serves %d bytes in blocks of %d, want %d in blocks of %d", dev.Size(), dev.BlockSize(), f.size, f.blockSize)
	}
	return nil
}

// Switch replaces the backend; call it between Suspend and Resume. It
// refuses a device of another size or block size.
func (f *frontend) Switch(dev bdev.Device) error {
	if err := f.CanSwitch(dev); err != nil {
		return err
	}
	f.mu.Lock()
	f.dev = dev
	f.mu.Unlock()
	return nil
}
