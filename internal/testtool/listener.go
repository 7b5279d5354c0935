package testtool

import (
	"net"
	"testing"
)

// AcceptingListener listens on a loopback TCP port and holds every
// connection it accepts open, reading nothing, until the test ends; it
// returns the address. Tests dial it to inspect a client's socket options.
func AcceptingListener(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}
