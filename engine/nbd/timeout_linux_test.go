package nbd

import (
	"net"
	"testing"

	"github.com/faultline/faultline/engine/srcaddr"
)

// TestDialSetsUserTimeout checks that TCP connections the client dials
// carry TCP_USER_TIMEOUT, which is what fails a replica behind a network
// partition (faults.TestPartitionNodesWhileAttached shows it end to end).
func TestDialSetsUserTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	nc, err := dialConn(t.Context(), "", "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got, err := srcaddr.UserTimeout(nc.(*net.TCPConn))
	if err != nil || got != unackedTimeout {
		t.Fatalf("TCP_USER_TIMEOUT = %v (%v), want %v", got, err, unackedTimeout)
	}
}
