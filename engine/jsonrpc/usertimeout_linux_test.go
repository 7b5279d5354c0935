package jsonrpc

import (
	"net"
	"testing"

	"github.com/faultline/faultline/engine/srcaddr"
	"github.com/faultline/faultline/internal/testtool"
)

// TestDialSetsUserTimeout checks that a dialled TCP connection carries
// TCP_USER_TIMEOUT, so that a peer RPC to a node behind a network
// partition fails within UnackedTimeout instead of waiting on TCP.
func TestDialSetsUserTimeout(t *testing.T) {
	c, err := DialFrom(t.Context(), "127.0.0.1", "tcp", testtool.AcceptingListener(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := srcaddr.UserTimeout(c.conn.(*net.TCPConn))
	if err != nil || got != UnackedTimeout {
		t.Fatalf("TCP_USER_TIMEOUT = %v (%v), want %v", got, err, UnackedTimeout)
	}
}
