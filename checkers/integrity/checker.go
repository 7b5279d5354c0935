package integrity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/timeline"
)

// Checker names, as they appear in Verdict.Checker and on the timeline.
const (
	NameReplicasEqual      = "replicas-equal"
	NameReadsDeterministic = "reads-deterministic"
	NameNoOrphans          = "no-orphans"
	NameSpaceBounded       = "space-bounded"
)

// dialTimeout bounds opening one connection (a replica export, a node's
// JSON-RPC); a node or export that does not answer in that time counts as
// unreachable rather than stalling the whole check.
const dialTimeout = 30 * time.Second

// Checker holds what every integrity check needs. Zero Recorder is fine.
type Checker struct {
	API      *client.Client     // manager REST client (engine/client)
	Recorder *timeline.Recorder // optional: every verdict is added to it
	// Nodes is how to reach each storage node's JSON-RPC; when empty,
	// NodesFromManager is used. Names must be the manager's node names,
	// because replicas are matched to the node the manager placed them on.
	Nodes []Node
	// Credential is the cluster credential (cluster.CredentialOf the
	// driver); zero when the cluster has none. It is proved to nodes
	// reached over TCP (their JSON-RPC requires it; a Unix socket needs
	// none), and replicas-equal derives from it the keys that open the
	// nodes' protected replica exports.
	Credential credential.Token
}

// Node is one storage node's JSON-RPC door: Addr is "unix:/path",
// "tcp:host:port" or a bare "host:port" (TCP).
type Node struct{ Name, Addr string }

// NodesFromManager lists the nodes the manager knows
// (api.Node.Spec.RPCAddress), in the manager's order.
func NodesFromManager(ctx context.Context, c *client.Client) ([]Node, error) {
	if c == nil {
		return nil, fmt.Errorf("list nodes: no manager client")
	}
	ns, err := c.ListNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := make([]Node, 0, len(ns))
	for _, n := range ns {
		out = append(out, Node{Name: n.Name, Addr: n.Spec.RPCAddress})
	}
	return out, nil
}

// splitAddr turns a Node.Addr into a network and an address for net.Dial.
func splitAddr(addr string) (network, address string, err error) {
	switch {
	case addr == "":
		return "", "", fmt.Errorf("empty JSON-RPC address")
	case strings.HasPrefix(addr, "unix:"):
		return "unix", strings.TrimPrefix(addr, "unix:"), nil
	case strings.HasPrefix(addr, "tcp:"):
		return "tcp", strings.TrimPrefix(addr, "tcp:"), nil
	default:
		return "tcp", addr, nil
	}
}

// dialNode opens a JSON-RPC connection to n, proving cred over TCP.
func dialNode(ctx context.Context, n Node, cred credential.Token) (*jsonrpc.Client, error) {
	network, address, err := splitAddr(n.Addr)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := jsonrpc.DialAuth(dctx, "", network, address, cred)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	return c, nil
}
