package nbd

import (
	"errors"
	"fmt"

	"github.com/faultline/faultline/engine/bdev"
)

// ErrDisconnected is wrapped by every error a Client returns once its
// connection is gone, for requests that were pending and for later ones.
var ErrDisconnected = errors.New("nbd: disconnected")

// ErrUnknownExport is wrapped by Dial when the server has no such export.
var ErrUnknownExport = errors.New("nbd: unknown export")

// Errno is an error value a server returned in a reply. EPERM matches
// bdev.ErrReadOnly and ENOSPC matches bdev.ErrOutOfRange under errors.Is,
// so that code over a remote device can treat it like a local one.
type Errno uint32

func (e Errno) Error() string {
	switch uint32(e) {
	case errPerm:
		return "nbd: EPERM (operation not permitted)"
	case errIO:
		return "nbd: EIO (input/output error)"
	case errNoMem:
		return "nbd: ENOMEM (out of memory)"
	case errInval:
		return "nbd: EINVAL (invalid argument)"
	case errNoSpc:
		return "nbd: ENOSPC (no space left on device)"
	case errOverflow:
		return "nbd: EOVERFLOW (value too large)"
	case errNotSup:
		return "nbd: ENOTSUP (operation not supported)"
	case errShutdown:
		return "nbd: ESHUTDOWN (server shutting down)"
	}
	return fmt.Sprintf("nbd: error %d", uint32(e))
}

// Is lets errors.Is match the bdev error a server-side errno came from.
func (e Errno) Is(target error) bool {
	switch uint32(e) {
	case errPerm:
		return target == bdev.ErrReadOnly
	case errNoSpc:
		return target == bdev.ErrOutOfRange
	}
	return false
}

// Error numbers a server sends, for comparison with errors.Is.
const (
	EPERM     = Errno(errPerm)
	EIO       = Errno(errIO)
	EINVAL    = Errno(errInval)
	ENOSPC    = Errno(errNoSpc)
	ESHUTDOWN = Errno(errShutdown)
)

// errnoFor maps a device error to the NBD error value for a request;
// write reports whether the request modifies data (past-the-end writes are
// ENOSPC, past-the-end reads EINVAL).
func errnoFor(err error, write bool) uint32 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, bdev.ErrOutOfRange):
		if write {
			return errNoSpc
		}
		return errInval
	case errors.Is(err, bdev.ErrReadOnly):
		return errPerm
	case errors.Is(err, bdev.ErrMisaligned):
		return errInval
	}
	return errIO
}
