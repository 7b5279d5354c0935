// Package faults injects and heals faults in a cluster. Each fault is an
// Inject/Heal pair with a name and parameters; an Injector records every
// fault as a window on the run's timeline and heals whatever is still
// injected when the scenario ends, whether it passed or not.
package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// Fault is one kind of damage done to the system under test.
type Fault interface {
	Name() string
	Params() map[string]string
	Inject(ctx context.Context) error
	// Heal undoes Inject, or waits until the system has undone it (an
	// instance manager that its supervisor restarts). Heal must be safe to
	// call after a failed or partial Inject.
	Heal(ctx context.Context) error
}

// NodeStop kills every process of a node; Heal starts it again.
func NodeStop(d cluster.Driver, node string) Fault {
	return &nodeStop{d: d, node: node}
}

type nodeStop struct {
	d    cluster.Driver
	node string
}

func (f *nodeStop) Name() string                     { return "node-stop" }
func (f *nodeStop) Params() map[string]string        { return map[string]string{"node": f.node} }
func (f *nodeStop) Inject(ctx context.Context) error { return f.d.StopNode(ctx, f.node) }
func (f *nodeStop) Heal(ctx context.Context) error   { return f.d.StartNode(ctx, f.node) }

// InstanceManagerDelete kills a node's instance manager; the cluster's
// supervisor brings a new one. Heal waits until the node answers again.
func InstanceManagerDelete(d cluster.Driver, node string) Fault {
	return &imDelete{d: d, node: node}
}

type imDelete struct {
	d    cluster.Driver
	node string
}

func (f *imDelete) Name() string              { return "instance-manager-delete" }
func (f *imDelete) Params() map[string]string { return map[string]string{"node": f.node} }
func (f *imDelete) Inject(ctx context.Context) error {
	return f.d.DeleteInstanceManager(ctx, f.node)
}
func (f *imDelete) Heal(ctx context.Context) error {
	return cluster.WaitNodeReady(ctx, f.d, f.node)
}

// ErrEngineCrashUnsupported is returned by EngineCrash's Inject when the
// cluster driver cannot kill a single engine instance.
var ErrEngineCrashUnsupported = errors.New("engine crash: this cluster driver cannot kill a single engine instance; use instance-manager-delete to kill every engine on a node")

// EngineKiller kills one engine instance abruptly (no cleanup runs). The
// local cluster driver (and its control-socket client) implement it by
// SIGKILLing the engine's process.
type EngineKiller interface {
	KillEngine(ctx context.Context, engine string) error
}

// EngineCrash kills the named engine instance abruptly. d is usually the
// cluster driver; when it is not an EngineKiller, Inject fails with
// ErrEngineCrashUnsupported. Heal does nothing: recovery is the control
// plane's job and the scenario checks it.
func EngineCrash(d any, engine string) Fault {
	k, _ := d.(EngineKiller)
	return &engineCrash{k: k, engine: engine}
}

type engineCrash struct {
	k      EngineKiller
	engine string
}

func (f *engineCrash) Name() string              { return "engine-crash" }
func (f *engineCrash) Params() map[string]string { return map[string]string{"engine": f.engine} }
func (f *engineCrash) Inject(ctx context.Context) error {
	if f.k == nil {
		return ErrEngineCrashUnsupported
	}
	if err := f.k.KillEngine(ctx, f.engine); err != nil {
		return fmt.Errorf("engine crash %s: %w", f.engine, err)
	}
	return nil
}
func (f *engineCrash) Heal(ctx context.Context) error { return nil }

// ReplicaDeleter deletes a replica through the control plane's API;
// *engine/client.Client is one.
type ReplicaDeleter interface {
	DeleteReplica(ctx context.Context, name string) (api.Replica, error)
}

// ReplicaDelete deletes a replica through the API. Heal does nothing: the
// control plane schedules and rebuilds a replacement, which the scenario
// waits for and checks.
func ReplicaDelete(api ReplicaDeleter, replica string) Fault {
	return &replicaDelete{api: api, replica: replica}
}

type replicaDelete struct {
	api     ReplicaDeleter
	replica string
}

func (f *replicaDelete) Name() string              { return "replica-delete" }
func (f *replicaDelete) Params() map[string]string { return map[string]string{"replica": f.replica} }
func (f *replicaDelete) Inject(ctx context.Context) error {
	if _, err := f.api.DeleteReplica(ctx, f.replica); err != nil {
		return fmt.Errorf("replica delete %s: %w", f.replica, err)
	}
	return nil
}
func (f *replicaDelete) Heal(ctx context.Context) error { return nil }

var _ ReplicaDeleter = (*client.Client)(nil)
