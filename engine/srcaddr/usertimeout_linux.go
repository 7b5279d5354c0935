package srcaddr

import (
	"net"
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT from linux/tcp.h (the syscall
// package predates it).
const tcpUserTimeout = 0x12

// SetUserTimeout makes the kernel abort the connection when data it sent
// stays unacknowledged for d, and when keepalive probes go unanswered that
// long: a peer behind a network partition then fails the pending calls
// instead of leaving them to TCP's retransmissions, which give up only
// after about a quarter of an hour.
func SetUserTimeout(tc *net.TCPConn, d time.Duration) error {
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(d.Milliseconds()))
	}); err != nil {
		return err
	}
	return serr
}

// UserTimeout reads a connection's TCP_USER_TIMEOUT back.
func UserTimeout(tc *net.TCPConn) (time.Duration, error) {
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var ms int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		ms, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
	}); err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, gerr
}
