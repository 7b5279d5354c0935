package manager

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// A node whose host vanished takes requests and never answers. A call that
// runs out of time must make the next Agent call redial, or every later
// poll would queue on the dead connection.
func TestRPCAgentRedialsAfterTimeout(t *testing.T) {
	tok, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A node that authenticates callers and then answers nothing.
	srv := jsonrpc.NewServer(nil)
	srv.Register(improto.MethodEngineGet, func(ctx context.Context, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ServeAuthenticated(sctx, ln, tok) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	d := NewRPCDialer(tok)
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
	tok, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	d := NewRPCDialer(tok)
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
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- jsonrpc.NewServer(nil).ServeAuthenticated(sctx, ln2, tok) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
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
