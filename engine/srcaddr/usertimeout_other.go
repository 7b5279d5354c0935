//go:build !linux

package srcaddr

import (
	"errors"
	"net"
	"time"
)

// SetUserTimeout does nothing where TCP_USER_TIMEOUT is not known: a
// partitioned peer's calls then hang until TCP gives up.
func SetUserTimeout(tc *net.TCPConn, d time.Duration) error { return nil }

// UserTimeout is not known here.
func UserTimeout(tc *net.TCPConn) (time.Duration, error) {
	return 0, errors.ErrUnsupported
}
