package nbd

import (
	"net"
	"testing"

	"github.com/faultline/faultline/engine/srcaddr"
	"github.com/faultline/faultline/internal/testtool"
)

// TestDialSetsUserTimeout checks that TCP connections the client dials
// carry TCP_USER_TIMEOUT, which is what fails a replica behind a network
// partition (faults.TestPartitionNodesWhileAttached shows it end to end).
func TestDialSetsUserTimeout(t *testing.T) {
	nc, err := dialConn(t.Context(), "", "tcp", testtool.AcceptingListener(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got, err := srcaddr.UserTimeout(nc.(*net.TCPConn))
	if err != nil || got != unackedTimeout {
		t.Fatalf("TCP_USER_TIMEOUT = %v (%v), want %v", got, err, unackedTimeout)
	}
}
