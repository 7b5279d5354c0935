package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// peers reaches the instance managers of the nodes that hold an engine's
// replicas, to advance revisions and take snapshots on them. A replica is
// known to an engine by its NBD address; the node serving that address is
// found in the manager's node list (from the nodes' heartbeats), and its
// JSON-RPC address dialled (over TCP proving the cluster credential). The node's own replicas are served in process.
type peers struct {
	m *Manager

	mu    sync.Mutex
	conns map[string]*jsonrpc.Client // by NBD address
}

func newPeers(m *Manager) *peers { return &peers{m: m, conns: map[string]*jsonrpc.Client{}} }

// call runs an im_* method on the node serving NBD at nbdAddr. A kept
// connection that fails without an answer is dropped, and the call is made
// once more on a new one: the node behind it may have restarted since (an
// instance-manager restart), and the methods nodes call on each other are
// idempotent (a revision set, a snapshot that counts as done when there, a
// purge, rebuild steps that start over).
func (p *peers) call(ctx context.Context, nbdAddr, method string, params, result any) error {
	if nbdAddr == p.m.opts.NBDAddress {
		return p.m.callLocal(ctx, method, params, result)
	}
	for attempt := 0; ; attempt++ {
		c, kept, err := p.conn(ctx, nbdAddr)
		if err != nil {
			return err
		}
		err = c.Call(ctx, method, params, result)
		var rpcErr *jsonrpc.Error
		if err == nil || errors.As(err, &rpcErr) {
			return err
		}
		p.mu.Lock()
		if p.conns[nbdAddr] == c {
			delete(p.conns, nbdAddr)
		}
		p.mu.Unlock()
		c.Close()
		if !kept || attempt > 0 || ctx.Err() != nil {
			return err
		}
	}
}

// conn returns the connection to the node serving nbdAddr; kept says it
// was dialled before this call.
func (p *peers) conn(ctx context.Context, nbdAddr string) (c *jsonrpc.Client, kept bool, err error) {
	p.mu.Lock()
	c, ok := p.conns[nbdAddr]
	p.mu.Unlock()
	if ok {
		return c, true, nil
	}
	c, err = p.dial(ctx, nbdAddr)
	return c, false, err
}

// dial finds the node serving nbdAddr in the manager's node list and
// connects to its JSON-RPC.
func (p *peers) dial(ctx context.Context, nbdAddr string) (*jsonrpc.Client, error) {
	if p.m.mc == nil {
		return nil, fmt.Errorf("no manager to find the node serving %s", nbdAddr)
	}
	nodes, err := p.m.mc.ListNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("find node serving %s: %w", nbdAddr, err)
	}
	for _, n := range nodes {
		if n.Spec.NBDAddress != nbdAddr {
			continue
		}
		network, addr := splitRPCAddress(n.Spec.RPCAddress)
		c, err := jsonrpc.DialAuth(ctx, p.m.opts.SourceAddress, network, addr, p.m.opts.Credential)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		p.mu.Lock()
		if old, ok := p.conns[nbdAddr]; ok {
			p.mu.Unlock()
			c.Close()
			return old, nil
		}
		p.conns[nbdAddr] = c
		p.mu.Unlock()
		return c, nil
	}
	return nil, fmt.Errorf("no node serves NBD at %s", nbdAddr)
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		c.Close()
		delete(p.conns, a)
	}
}

// splitRPCAddress reads "unix:/path", "tcp:host:port", "/path" or
// "host:port" (the forms a heartbeat carries).
func splitRPCAddress(s string) (network, addr string) {
	switch {
	case strings.HasPrefix(s, "unix:"):
		return "unix", strings.TrimPrefix(s, "unix:")
	case strings.HasPrefix(s, "tcp:"):
		return "tcp", strings.TrimPrefix(s, "tcp:")
	case strings.HasPrefix(s, "/"):
		return "unix", s
	}
	return "tcp", s
}

// callLocal runs one of this node's im_* methods in process, with the same
// encoding as over the wire.
func (m *Manager) callLocal(ctx context.Context, method string, params, result any) error {
	h, ok := m.handlers()[method]
	if !ok {
		return &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "Method not found"}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encode %s params: %w", method, err)
	}
	res, err := h(ctx, raw)
	if err != nil || result == nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode %s result: %w", method, err)
	}
	return json.Unmarshal(b, result)
}
