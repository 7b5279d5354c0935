package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// ReplicaGetter reads a replica through the control plane's API;
// *engine/client.Client is one.
type ReplicaGetter interface {
	GetReplica(ctx context.Context, name string) (api.Replica, error)
}

var _ ReplicaGetter = (*client.Client)(nil)

// codeNoDevice is the JSON-RPC error code (-ENODEV) a node answers
// nbd_export_stop with when there is no such export.
const codeNoDevice = -19

// ReplicaCrash stops one replica's exports inside its live instance
// manager, the v2 replica crash (Longhorn's tests do it with
// `go-spdk-helper expose stop --nqn`): the node process keeps running, the
// engine's connections to the replica close, its I/O to it fails and the
// engine marks it ERR; the control plane then replaces or restarts it.
//
// Inject asks the API where the replica runs and which export serves it,
// and sends nbd_export_stop for the head's export and then its write-intent
// bitmap's (`<export>-bitmap`) to that node's JSON-RPC address, as a tester
// would: nothing but the node's RPC is needed, so it works on every driver
// whose node addresses this host can reach. Heal does nothing: recovery is
// the control plane's job and the scenario checks it.
func ReplicaCrash(d cluster.Driver, api ReplicaGetter, replica string) Fault {
	return &replicaCrash{d: d, api: api, replica: replica}
}

type replicaCrash struct {
	d       cluster.Driver
	api     ReplicaGetter
	replica string
}

func (f *replicaCrash) Name() string                   { return "replica-crash" }
func (f *replicaCrash) Params() map[string]string      { return map[string]string{"replica": f.replica} }
func (f *replicaCrash) Heal(ctx context.Context) error { return nil }

func (f *replicaCrash) Inject(ctx context.Context) error {
	r, err := f.api.GetReplica(ctx, f.replica)
	if err != nil {
		return fmt.Errorf("replica crash %s: %w", f.replica, err)
	}
	if r.Status.Export == "" {
		return fmt.Errorf("replica crash %s: replica is not exported (state %q)", f.replica, r.Status.State)
	}
	node, err := findNode(f.d, r.Spec.Node)
	if err != nil {
		return fmt.Errorf("replica crash %s: %w", f.replica, err)
	}
	if err := stopExports(ctx, f.d, node, r.Status.Export); err != nil {
		return fmt.Errorf("replica crash %s on %s: %w", f.replica, node.Name, err)
	}
	return nil
}

// findNode returns the driver's node of that name.
func findNode(d cluster.Driver, name string) (cluster.Node, error) {
	for _, n := range d.Nodes() {
		if n.Name == name {
			return n, nil
		}
	}
	return cluster.Node{}, fmt.Errorf("node %q: %w", name, cluster.ErrUnknownNode)
}

// stopExports stops a replica's head export, which must exist, and then its
// bitmap export, which may not.
func stopExports(ctx context.Context, d cluster.Driver, node cluster.Node, export string) error {
	c, err := cluster.DialNode(ctx, d, node)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := func(name string) error {
		return c.Call(ctx, "nbd_export_stop", map[string]string{"export_name": name}, nil)
	}
	if err := stop(export); err != nil {
		return fmt.Errorf("stop export %s: %w", export, err)
	}
	bitmap := export + "-bitmap"
	var rpcErr *jsonrpc.Error
	if err := stop(bitmap); err != nil && !(errors.As(err, &rpcErr) && rpcErr.Code == codeNoDevice) {
		return fmt.Errorf("stop export %s: %w", bitmap, err)
	}
	return nil
}
