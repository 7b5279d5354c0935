package nbd

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// ErrDisconnected is wrapped by every error a Client returns once its
// connection is gone, for requests that were pending and for later ones.
var ErrDisconnected = errors.New("nbd: disconnected")

// ErrUnknownExport is wrapped by Dial when the server has no such export.
var ErrUnknownExport = errors.New("nbd: unknown export")

// ErrRefused is wrapped by Dial when the server refuses the export by
// policy (NBD_REP_ERR_POLICY): a protected export opened without its key
// or with a wrong one.
var ErrRefused = errors.New("nbd: refused by the server")

// Errno is an error value a server returned in a reply. EPERM matches
// bdev.ErrReadOnly, and ENOSPC matches both syscall.ENOSPC and
// bdev.ErrOutOfRange under errors.Is, so that code over a remote device can
// treat it like a local one.
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

// Is lets errors.Is match the local error a server-side errno came from.
// The protocol answers ENOSPC both to a write past the end of the export
// (which a local device reports as bdev.ErrOutOfRange) and to a write the
// device had no room for (syscall.ENOSPC); the reply cannot tell the two
// apart, so ENOSPC matches both, and callers asking either question about
// a remote device get the answer they would get locally.
func (e Errno) Is(target error) bool {
	switch uint32(e) {
	case errPerm:
		return target == bdev.ErrReadOnly
	case errNoSpc:
		return target == bdev.ErrOutOfRange || target == syscall.ENOSPC
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

// errnoFor maps a device error to the NBD error value for a request with
// command cmd. Past-the-end WRITE and WRITE_ZEROES are ENOSPC, as the
// protocol asks, past-the-end READ and TRIM EINVAL. A device out of room
// (syscall.ENOSPC or EDQUOT: a full lvstore, or a full file system under a
// file-backed disk) on a request that modifies data is ENOSPC too, so the
// client sees "no space left on device", not an I/O error it would treat
// as a failing disk. Every other failure is EIO.
func errnoFor(err error, cmd uint16) uint32 {
	grows := cmd == cmdWrite || cmd == cmdWriteZeroes
	modifies := grows || cmd == cmdTrim
	switch {
	case err == nil:
		return 0
	case errors.Is(err, bdev.ErrOutOfRange):
		if grows {
			return errNoSpc
		}
		return errInval
	case errors.Is(err, bdev.ErrReadOnly):
		return errPerm
	case errors.Is(err, bdev.ErrMisaligned):
		return errInval
	case modifies && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)):
		return errNoSpc
	}
	return errIO
}
