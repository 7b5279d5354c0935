package manager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// RPCDialer reaches nodes over JSON-RPC at the rpcAddress of their heartbeat
// and keeps one connection per node, redialled after a transport failure
// (a restarted node process is a new server).
type RPCDialer struct {
	// cred is proved to nodes reached over TCP (jsonrpc.DialAuth).
	cred credential.Token

	mu      sync.Mutex
	clients map[string]*rpcAgent   // node name → agent
	failed  map[string]dialFailure // node name → its last failed dial
}

// DialTimeout bounds connecting to a node; DialRetryAfter is how long a
// failed dial answers for the node before the next one is tried. Together
// they keep a node that went away (before its heartbeats time out) from
// holding the controller's workers: without them every reconcile that
// touches it waits for a dial that cannot succeed.
const (
	DialTimeout    = 3 * time.Second
	DialRetryAfter = 2 * time.Second
)

// dialFailure is the last failed dial of a node.
type dialFailure struct {
	addr string
	at   time.Time
	err  error
}

// NewRPCDialer returns an RPCDialer with no connections yet that proves
// cred to the nodes it reaches over TCP.
func NewRPCDialer(cred credential.Token) *RPCDialer {
	return &RPCDialer{cred: cred, clients: map[string]*rpcAgent{}, failed: map[string]dialFailure{}}
}

// Agent returns the node's agent, dialling when needed. The dial runs
// without the dialer's lock, so a node that does not answer holds up no
// call to the others.
func (d *RPCDialer) Agent(ctx context.Context, node api.Node) (NodeAgent, error) {
	network, addr, err := ParseRPCAddress(node.Spec.RPCAddress)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node.Name, err)
	}
	d.mu.Lock()
	if a, ok := d.clients[node.Name]; ok && a.network == network && a.addr == addr && !a.isBroken() {
		d.mu.Unlock()
		return a, nil
	}
	if a, ok := d.clients[node.Name]; ok {
		a.c.Close()
		delete(d.clients, node.Name)
	}
	if f, ok := d.failed[node.Name]; ok && f.addr == addr && time.Since(f.at) < DialRetryAfter {
		d.mu.Unlock()
		return nil, fmt.Errorf("node %s: not dialled again within %v of a failed dial: %w", node.Name, DialRetryAfter, f.err)
	}
	d.mu.Unlock()

	// A node whose host vanished (a stopped kind node) drops SYNs: without
	// a bound the dial would wait for the kernel's retries, minutes.
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	c, err := jsonrpc.DialAuth(dctx, "", network, addr, d.cred)

	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.failed[node.Name] = dialFailure{addr: addr, at: time.Now(), err: err}
		return nil, fmt.Errorf("node %s: %w", node.Name, err)
	}
	delete(d.failed, node.Name)
	if a, ok := d.clients[node.Name]; ok && a.network == network && a.addr == addr && !a.isBroken() {
		c.Close() // another call dialled meanwhile
		return a, nil
	}
	a := &rpcAgent{c: c, network: network, addr: addr}
	d.clients[node.Name] = a
	return a, nil
}

// Close closes every connection.
func (d *RPCDialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, a := range d.clients {
		a.c.Close()
		delete(d.clients, name)
	}
	return nil
}

// ParseRPCAddress splits "unix:/path", "tcp:host:port", "/path" (unix) or
// "host:port" (tcp) into a network and an address for net.Dial.
func ParseRPCAddress(s string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(s, "unix:"):
		network, addr = "unix", strings.TrimPrefix(s, "unix:")
	case strings.HasPrefix(s, "tcp:"):
		network, addr = "tcp", strings.TrimPrefix(s, "tcp:")
	case strings.HasPrefix(s, "/"):
		network, addr = "unix", s
	default:
		network, addr = "tcp", s
	}
	if addr == "" {
		return "", "", fmt.Errorf("rpc address %q is empty", s)
	}
	return network, addr, nil
}

// rpcAgent is a NodeAgent over one JSON-RPC connection.
type rpcAgent struct {
	c             *jsonrpc.Client
	network, addr string

	mu     sync.Mutex
	broken bool
}

func (a *rpcAgent) isBroken() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.broken
}

// call marks the connection broken on transport errors (anything that is
// not a JSON-RPC error reply) and on calls that ran out of time, so the
// next Agent call redials: a connection to a node whose host vanished
// takes requests and never answers. A call cancelled (the manager stopping)
// says nothing about the connection.
func (a *rpcAgent) call(ctx context.Context, method string, params, result any) error {
	err := a.c.Call(ctx, method, params, result)
	var rpcErr *jsonrpc.Error
	if err != nil && !errors.As(err, &rpcErr) && (ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		a.mu.Lock()
		a.broken = true
		a.mu.Unlock()
	}
	return err
}

func (a *rpcAgent) ReplicaCreate(ctx context.Context, req improto.ReplicaCreateRequest) (improto.ReplicaInfo, error) {
	var info improto.ReplicaInfo
	err := a.call(ctx, improto.MethodReplicaCreate, req, &info)
	return info, err
}

func (a *rpcAgent) ReplicaDelete(ctx context.Context, name string, cleanupDisk bool) error {
	return a.call(ctx, improto.MethodReplicaDelete, improto.ReplicaDeleteRequest{Name: name, CleanupDisk: cleanupDisk}, nil)
}

func (a *rpcAgent) ReplicaGet(ctx context.Context, name string) (improto.ReplicaInfo, error) {
	var info improto.ReplicaInfo
	err := a.call(ctx, improto.MethodReplicaGet, improto.NameRequest{Name: name}, &info)
	return info, err
}

func (a *rpcAgent) ReplicaList(ctx context.Context) ([]improto.ReplicaInfo, error) {
	var l improto.ReplicaList
	err := a.call(ctx, improto.MethodReplicaList, nil, &l)
	return l.Replicas, err
}

func (a *rpcAgent) BackingImageList(ctx context.Context) ([]improto.BackingImageCopy, error) {
	var l improto.BackingImageList
	err := a.call(ctx, improto.MethodBackingImageList, nil, &l)
	return l.Copies, err
}

func (a *rpcAgent) BackingImageDelete(ctx context.Context, image string) error {
	return a.call(ctx, improto.MethodBackingImageDelete, improto.NameRequest{Name: image}, nil)
}

func (a *rpcAgent) EngineCreate(ctx context.Context, req improto.EngineCreateRequest) (improto.EngineInfo, error) {
	var info improto.EngineInfo
	err := a.call(ctx, improto.MethodEngineCreate, req, &info)
	return info, err
}

func (a *rpcAgent) EngineDelete(ctx context.Context, name string) error {
	return a.call(ctx, improto.MethodEngineDelete, improto.NameRequest{Name: name}, nil)
}

func (a *rpcAgent) EngineGet(ctx context.Context, name string) (improto.EngineInfo, error) {
	var info improto.EngineInfo
	err := a.call(ctx, improto.MethodEngineGet, improto.NameRequest{Name: name}, &info)
	return info, err
}

func (a *rpcAgent) EngineList(ctx context.Context) ([]improto.EngineInfo, error) {
	var l improto.EngineList
	err := a.call(ctx, improto.MethodEngineList, nil, &l)
	return l.Engines, err
}

func (a *rpcAgent) EngineSnapshot(ctx context.Context, engine, snapshot string) error {
	return a.call(ctx, improto.MethodEngineSnapshot, improto.EngineSnapshotRequest{Name: engine, Snapshot: snapshot}, nil)
}

func (a *rpcAgent) EngineReplicaAdd(ctx context.Context, engine string, replica improto.EngineReplica) error {
	return a.call(ctx, improto.MethodEngineReplicaAdd, improto.EngineReplicaAddRequest{Name: engine, Replica: replica}, nil)
}

func (a *rpcAgent) EngineReplicaRemove(ctx context.Context, engine, replica string) error {
	return a.call(ctx, improto.MethodEngineReplicaRemove, improto.EngineReplicaRemoveRequest{Name: engine, Replica: replica}, nil)
}

func (a *rpcAgent) EngineUpgrade(ctx context.Context, engine, imagePath string) error {
	return a.call(ctx, improto.MethodEngineUpgrade, improto.EngineUpgradeRequest{Name: engine, ImagePath: imagePath}, nil)
}

func (a *rpcAgent) ReplicaBackupStart(ctx context.Context, req improto.ReplicaBackupRequest) (improto.BackupJobStatus, error) {
	var st improto.BackupJobStatus
	err := a.call(ctx, improto.MethodReplicaBackupStart, req, &st)
	return st, err
}

func (a *rpcAgent) ReplicaBackupStatus(ctx context.Context, backup string) (improto.BackupJobStatus, error) {
	var st improto.BackupJobStatus
	err := a.call(ctx, improto.MethodReplicaBackupStatus, improto.BackupNameRequest{Backup: backup}, &st)
	return st, err
}

func (a *rpcAgent) ReplicaRestoreStart(ctx context.Context, req improto.ReplicaRestoreRequest) (improto.RestoreStatus, error) {
	var st improto.RestoreStatus
	err := a.call(ctx, improto.MethodReplicaRestoreStart, req, &st)
	return st, err
}

func (a *rpcAgent) ReplicaRestoreStatus(ctx context.Context, replica string) (improto.RestoreStatus, error) {
	var st improto.RestoreStatus
	err := a.call(ctx, improto.MethodReplicaRestoreStatus, improto.ReplicaNameRequest{Replica: replica}, &st)
	return st, err
}
