// Package bdev defines the block device that every refengine bdev implements:
// aio and malloc disks, lvols, raid1 volumes and remote (NBD-attached) devices.
//
// The data path mirrors os.File rather than taking a context: a request is
// bounded in size, and the caller cancels by closing the device or the
// connection it came from. Offsets and lengths are in bytes; implementations
// may require them to be multiples of BlockSize.
package bdev

import (
	"errors"
	"io"
)

// Device is a block device.
type Device interface {
	io.ReaderAt
	io.WriterAt
	// Flush returns once every write that completed before the call is on
	// stable storage.
	Flush() error
	// Unmap discards a range (NBD TRIM). Its contents are undefined until
	// rewritten; implementations may ignore it.
	Unmap(off, length int64) error
	// WriteZeroes makes a range read as zeros.
	WriteZeroes(off, length int64) error
	// Size is the device size in bytes. It may change (lvol resize).
	Size() int64
	// BlockSize is the smallest unit of I/O in bytes (512 or 4096).
	BlockSize() int
	// Close releases the device. I/O after Close fails with ErrClosed.
	Close() error
}

// Errors a Device returns, wrapped with context. Frontends map them to
// protocol errors: ErrOutOfRange to EINVAL/ENOSPC, ErrReadOnly to EPERM,
// anything else to EIO.
var (
	ErrOutOfRange = errors.New("request outside the device")
	ErrMisaligned = errors.New("request not aligned to the block size")
	ErrReadOnly   = errors.New("device is read-only")
	ErrClosed     = errors.New("device is closed")
)

// CheckRange validates a request of length bytes at off against a device of
// the given size and block size.
func CheckRange(off, length, size int64, blockSize int) error {
	if off < 0 || length < 0 || off > size || length > size-off {
		return ErrOutOfRange
	}
	if blockSize > 1 && (off%int64(blockSize) != 0 || length%int64(blockSize) != 0) {
		return ErrMisaligned
	}
	return nil
}
