// Package malloc is an in-memory block device, refengine's counterpart of
// SPDK's malloc bdev. It exists for tests and benchmarks: nothing survives
// Close or the process.
//
// Memory is taken lazily in chunks, so a large device that is barely written
// costs little, and each chunk is guarded by one of a fixed set of striped
// locks so that requests to different regions run in parallel.
package malloc

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/engine/bdev"
)

const (
	// chunkSize is the unit of lazy allocation and locking.
	chunkSize = 64 << 10
	// stripes is the number of locks shared by all chunks (chunk i uses
	// stripe i%stripes).
	stripes = 64
	// maxSize bounds a device so that a typo cannot ask for exabytes of
	// address space; chunks are only allocated when written.
	maxSize = 1 << 40
)

// Device is an in-memory bdev.Device. It is safe for concurrent use.
type Device struct {
	size      int64
	blockSize int
	closed    atomic.Bool
	locks     [stripes]sync.RWMutex
	// chunks[i] is nil until chunk i is written; a nil chunk reads as zeros.
	// chunks[i] is guarded by locks[i%stripes].
	chunks [][]byte
}

var _ bdev.Device = (*Device)(nil)

// New returns a zero-filled device of numBlocks blocks of blockSize bytes.
// blockSize must be a power of two of at least 512 and no more than the
// internal chunk size (64 KiB).
func New(numBlocks uint64, blockSize int) (*Device, error) {
	if blockSize < 512 || blockSize > chunkSize || blockSize&(blockSize-1) != 0 {
		return nil, fmt.Errorf("malloc: block size %d: must be a power of two between 512 and %d", blockSize, chunkSize)
	}
	if numBlocks == 0 {
		return nil, fmt.Errorf("malloc: device needs at least one block")
	}
	if numBlocks > maxSize/uint64(blockSize) {
		return nil, fmt.Errorf("malloc: %d blocks of %d bytes: larger than the %d-byte limit", numBlocks, blockSize, int64(maxSize))
	}
	size := int64(numBlocks) * int64(blockSize)
	return &Device{
		size:      size,
		blockSize: blockSize,
		chunks:    make([][]byte, (size+chunkSize-1)/chunkSize),
	}, nil
}

// Size returns the device size in bytes.
func (d *Device) Size() int64 { return d.size }

// BlockSize returns the block size in bytes.
func (d *Device) BlockSize() int { return d.blockSize }

// check validates a request and the device state.
func (d *Device) check(op string, off, length int64) error {
	if d.closed.Load() {
		return fmt.Errorf("malloc %s at %d: %w", op, off, bdev.ErrClosed)
	}
	if err := bdev.CheckRange(off, length, d.size, d.blockSize); err != nil {
		return fmt.Errorf("malloc %s of %d bytes at %d (size %d): %w", op, length, off, d.size, err)
	}
	return nil
}

// span calls fn for each chunk that [off, off+length) touches, with the
// chunk index, the offset inside the chunk and the number of bytes there.
// A request is not atomic across chunks, as it is not on a disk either.
func span(off, length int64, fn func(idx int, inChunk, n int)) {
	for length > 0 {
		idx := int(off / chunkSize)
		in := int(off % chunkSize)
		n := int(min(int64(chunkSize-in), length))
		fn(idx, in, n)
		off += int64(n)
		length -= int64(n)
	}
}

// ReadAt reads len(p) bytes at off.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if err := d.check("read", off, int64(len(p))); err != nil {
		return 0, err
	}
	done := 0
	span(off, int64(len(p)), func(idx, in, n int) {
		l := &d.locks[idx%stripes]
		l.RLock()
		if c := d.chunks[idx]; c != nil {
			copy(p[done:done+n], c[in:in+n])
		} else {
			clear(p[done : done+n])
		}
		l.RUnlock()
		done += n
	})
	return done, nil
}

// WriteAt writes p at off.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	if err := d.check("write", off, int64(len(p))); err != nil {
		return 0, err
	}
	done := 0
	span(off, int64(len(p)), func(idx, in, n int) {
		l := &d.locks[idx%stripes]
		l.Lock()
		c := d.chunks[idx]
		if c == nil {
			c = make([]byte, chunkSize)
			d.chunks[idx] = c
		}
		copy(c[in:in+n], p[done:done+n])
		l.Unlock()
		done += n
	})
	return done, nil
}

// Flush does nothing: memory is as stable as this device gets.
func (d *Device) Flush() error {
	if d.closed.Load() {
		return fmt.Errorf("malloc flush: %w", bdev.ErrClosed)
	}
	return nil
}

// Unmap zeroes the range, releasing whole chunks.
func (d *Device) Unmap(off, length int64) error {
	if err := d.check("unmap", off, length); err != nil {
		return err
	}
	d.zero(off, length)
	return nil
}

// WriteZeroes makes the range read as zeros, releasing whole chunks.
func (d *Device) WriteZeroes(off, length int64) error {
	if err := d.check("write zeroes", off, length); err != nil {
		return err
	}
	d.zero(off, length)
	return nil
}

func (d *Device) zero(off, length int64) {
	span(off, length, func(idx, in, n int) {
		l := &d.locks[idx%stripes]
		l.Lock()
		switch c := d.chunks[idx]; {
		case c == nil:
		case n == chunkSize:
			d.chunks[idx] = nil
		default:
			clear(c[in : in+n])
		}
		l.Unlock()
	})
}

// Close releases the memory. Later I/O fails with bdev.ErrClosed.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return fmt.Errorf("malloc close: %w", bdev.ErrClosed)
	}
	for i := range d.chunks {
		l := &d.locks[i%stripes]
		l.Lock()
		d.chunks[i] = nil
		l.Unlock()
	}
	return nil
}
