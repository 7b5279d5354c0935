package manager

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// A node whose host vanished takes requests and never answers. A call that
// runs out of time must make the next Agent call redial, or every later
// poll would queue on the dead connection.
func TestRPCAgentRedialsAfterTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c) // read every request, answer none
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	d := NewRPCDialer()
	defer d.Close()
	node := api.Node{Name: "n1", Spec: api.NodeSpec{RPCAddress: "tcp:" + ln.Addr().String()}}
	a1, err := d.Agent(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := a1.EngineGet(ctx, "e1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a node that never answers: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %v past its 100ms deadline", d)
	}
	a2, err := d.Agent(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	if a2 == a1 {
		t.Fatal("after a timed-out call the dialer hands out the same dead connection again")
	}
}

// A node that refused a dial is not dialled again at once: every reconcile
// touching it would otherwise spend a dial (up to DialTimeout) on a node
// that went away before its heartbeats time out. After DialRetryAfter it is.
func TestRPCDialerRemembersFailedDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: dials are refused
	d := NewRPCDialer()
	defer d.Close()
	node := api.Node{Name: "n1", Spec: api.NodeSpec{RPCAddress: "tcp:" + addr}}
	if _, err := d.Agent(context.Background(), node); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	_, err = d.Agent(context.Background(), node)
	if err == nil || !strings.Contains(err.Error(), "not dialled again") {
		t.Fatalf("second Agent call right after a failed dial: %v, want the remembered failure", err)
	}
	ln2, err := net.Listen("tcp", addr) // the node is back
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln2.Close()
	deadline := time.Now().Add(DialRetryAfter + 5*time.Second)
	for {
		if _, err = d.Agent(context.Background(), node); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node back for %v and still not dialled: %v", DialRetryAfter+5*time.Second, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
