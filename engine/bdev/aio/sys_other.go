//go:build !linux

package aio

import (
	"errors"
	"os"
)

// errPunchUnsupported means the platform cannot punch holes; zeros are
// written instead.
var errPunchUnsupported = errors.New("punching holes not supported")

// syncData falls back to a full fsync where fdatasync is not available.
func syncData(d *Device) error { return d.f.Sync() }

func punchHole(fd uintptr, off, length int64) error { return errPunchUnsupported }

// reopenDSync opens path again for synchronous writes; O_SYNC, as not
// every platform has O_DSYNC.
func reopenDSync(_ uintptr, path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_SYNC, 0)
}

// DetectBlockSize reports 0 (not detected) where block devices' sector
// sizes are not queried; opening path can still fail.
func DetectBlockSize(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	return 0, f.Close()
}

// spliceSupported: only Linux has splice(2).
const spliceSupported = false
