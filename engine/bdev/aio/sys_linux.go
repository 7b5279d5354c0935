//go:build linux

package aio

import (
	"errors"
	"syscall"
)

// fallocate mode bits from linux/falloc.h (the syscall package lacks them).
const (
	fallocKeepSize  = 0x01
	fallocPunchHole = 0x02
)

// errPunchUnsupported means the file system or device cannot punch holes.
var errPunchUnsupported = errors.New("punching holes not supported")

// syncData writes the file's data (and the metadata needed to read it)
// to stable storage: fdatasync.
func syncData(d *Device) error {
	return d.control(func(fd uintptr) error {
		for {
			err := syscall.Fdatasync(int(fd))
			if err != syscall.EINTR {
				return err
			}
		}
	})
}

// punchHole deallocates [off, off+length) while keeping the file size, so
// the range reads as zeros.
func punchHole(fd uintptr, off, length int64) error {
	for {
		err := syscall.Fallocate(int(fd), fallocPunchHole|fallocKeepSize, off, length)
		switch err {
		case nil:
			return nil
		case syscall.EINTR:
			continue
		case syscall.EOPNOTSUPP, syscall.ENOSYS, syscall.EINVAL, syscall.ENODEV:
			return errPunchUnsupported
		default:
			return err
		}
	}
}
