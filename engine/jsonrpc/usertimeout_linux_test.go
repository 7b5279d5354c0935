package jsonrpc

import (
	"net"
	"testing"

	"github.com/faultline/faultline/engine/srcaddr"
)

// TestDialSetsUserTimeout checks that a dialled TCP connection carries
// TCP_USER_TIMEOUT, so that a peer RPC to a node behind a network
// partition fails within UnackedTimeout instead of waiting on TCP.
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
	c, err := DialFrom(t.Context(), "127.0.0.1", "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := srcaddr.UserTimeout(c.conn.(*net.TCPConn))
	if err != nil || got != UnackedTimeout {
		t.Fatalf("TCP_USER_TIMEOUT = %v (%v), want %v", got, err, UnackedTimeout)
	}
}
