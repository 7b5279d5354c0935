package cluster

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// NodeSet is a cluster's nodes; every Driver is one.
type NodeSet interface {
	Nodes() []Node
}

// DialNode connects to a node's JSON-RPC the way the framework should:
// its Unix socket when it has one (the local administrator's door, which
// needs no credential and is not cut by network faults), else its TCP
// address, proving the driver's cluster credential (as CredentialOf), without
// which the node runs no method.
func DialNode(ctx context.Context, d NodeSet, n Node) (*jsonrpc.Client, error) {
	if n.Socket != "" {
		c, err := jsonrpc.Dial(ctx, "unix", n.Socket)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		return c, nil
	}
	if n.RPC == "" {
		return nil, fmt.Errorf("node %s: no JSON-RPC address", n.Name)
	}
	var cred credential.Token
	if c, ok := d.(Credentialed); ok {
		cred = c.Credential()
	}
	c, err := jsonrpc.DialAuth(ctx, "", "tcp", n.RPC, cred)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	return c, nil
}

// NodeNamed returns the driver's node called name.
func NodeNamed(d NodeSet, name string) (Node, error) {
	for _, n := range d.Nodes() {
		if n.Name == name {
			return n, nil
		}
	}
	return Node{}, fmt.Errorf("node %q: %w", name, ErrUnknownNode)
}
