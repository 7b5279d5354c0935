package lvstore

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrNotFound is returned by Open when the device holds no lvstore.
var ErrNotFound = errors.New("no lvstore found on device")

// ErrCorrupt is returned by Open when an lvstore superblock is present but
// the metadata cannot be trusted.
var ErrCorrupt = errors.New("lvstore metadata corrupt")

// errno wraps an errno with a message so errors.Is(err, syscall.EXXX) works.
func errno(e syscall.Errno, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), e)
}

// corrupt wraps ErrCorrupt with a description of what is wrong.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
