//go:build !linux

package nbd

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not known: a
// partitioned peer's calls then hang until TCP gives up.
func setUserTimeout(tc *net.TCPConn, d time.Duration) error { return nil }
