package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// nodes is a NodeSet with a cluster credential, as a driver is.
type nodes struct {
	list []Node
	cred credential.Token
}

func (n nodes) Nodes() []Node                { return n.list }
func (n nodes) Credential() credential.Token { return n.cred }

// bare is a NodeSet without a credential.
type bare []Node

func (b bare) Nodes() []Node { return b }

// TestDialNode serves a node's methods on an authenticated TCP listener
// and on a Unix socket, and dials each the way the framework does.
func TestDialNode(t *testing.T) {
	tok, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	srv := jsonrpc.NewServer(nil)
	srv.Register("ping", func(ctx context.Context, _ json.RawMessage) (any, error) { return "pong", nil })
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "n.sock")
	ul, err := jsonrpc.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { srv.ServeAuthenticated(sctx, tl, tok); done <- struct{}{} }()
	go func() { srv.Serve(sctx, ul); done <- struct{}{} }()
	defer func() { stop(); <-done; <-done }()

	tcpNode := Node{Name: "n1", RPC: tl.Addr().String()}
	unixNode := Node{Name: "n1", RPC: tl.Addr().String(), Socket: sock}
	tests := []struct {
		name string
		d    NodeSet
		n    Node
		ok   bool
	}{
		{"TCP with the credential", nodes{[]Node{tcpNode}, tok}, tcpNode, true},
		{"the Unix socket first, no credential needed", bare{unixNode}, unixNode, true},
		{"TCP without a credential", bare{tcpNode}, tcpNode, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DialNode(ctx, tt.d, tt.n)
			if !tt.ok {
				if err == nil || !errors.Is(err, credential.ErrEmpty) {
					t.Fatalf("DialNode = %v, want an error for the missing credential", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got string
			if err := c.Call(ctx, "ping", nil, &got); err != nil || got != "pong" {
				t.Fatalf("ping = %q, %v", got, err)
			}
		})
	}
	if _, err := NodeNamed(nodes{list: []Node{tcpNode}}, "n2"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("NodeNamed(n2) = %v, want ErrUnknownNode", err)
	}
}
