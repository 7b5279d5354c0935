//go:build linux

package aio

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
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

// reopenDSync opens the file behind fd again, write-only and O_DSYNC:
// through /proc/self/fd, so it is the same file even if path was renamed
// or replaced since, and by path where /proc is not mounted.
func reopenDSync(fd uintptr, path string) (*os.File, error) {
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_WRONLY|syscall.O_DSYNC, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_WRONLY|syscall.O_DSYNC, 0)
	}
	return f, err
}

// blkSSZGet is BLKSSZGET from linux/fs.h: a block device's logical sector
// size.
const blkSSZGet = 0x1268

// DetectBlockSize returns the logical block size of the block device at
// path, or 0 for anything else (a regular file), as SPDK's
// spdk_fd_get_blocklen does. Opening path can fail (ENOENT, EACCES).
func DetectBlockSize(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("detect block size of %s: %w", path, err)
	}
	defer f.Close()
	var n int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), blkSSZGet, uintptr(unsafe.Pointer(&n))); e != 0 {
		return 0, nil
	}
	return int(n), nil
}

// spliceSupported: Linux has splice(2), so the device takes writes from a
// bdev.SpliceSource.
const spliceSupported = true
