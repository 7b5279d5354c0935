package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// restartFailed restarts one failed replica of an attached volume in place
// instead of replacing it, as Longhorn's v2 engine reuses a failed replica
// (longhorn/longhorn#9488): the replica is stopped and started again in
// its live instance manager, which rebuilds its caches from the lvstore as
// after an instance-manager restart, and the engine takes it back
// write-only and rebuilds it until it is RW. It applies to a replica whose
// node is up with its disk, whose disk is not refusing starts and whose
// head is still on disk, and only once per failure: RestartedAt stays set
// until the replica turns RW, and a replica that fails again before that
// (its start refused, its rebuild failed) is replaced instead; a node that
// does not answer refuses nothing, and the restart is tried again. It reports
// whether it took a replica in hand (the pass then ends).
func (c *Controller) restartFailed(ctx context.Context, vv *volumeView) (bool, error) {
	for _, r := range vv.replicas {
		if !c.restartable(vv, r) {
			continue
		}
		// A restart its node did not answer waits before the next try:
		// each try writes the replica twice, and every write queues the
		// volume again at once.
		if wait := c.restartWait(r.Name); wait > 0 {
			c.queue.AddAfter(volumeKeyPrefix+vv.vol.Name, wait)
			return true, nil
		}
		err := c.restartInPlace(ctx, vv, r)
		if err == nil {
			c.clearRestartWait(r.Name)
			return true, nil
		}
		// A node that did not answer (its connection dropped by a restart,
		// a timeout) refused nothing: the restart is tried again, after
		// restartRetryAfter.
		var rpcErr *jsonrpc.Error
		if ctx.Err() != nil || !errors.As(err, &rpcErr) {
			c.setRestartWait(r.Name, restartRetryAfter)
			if merr := c.mutateReplica(r.Name, func(x *api.Replica) { x.Status.RestartedAt = time.Time{} }); merr != nil {
				return true, merr
			}
			return true, fmt.Errorf("restart failed replica %s in place: %w", r.Name, err)
		}
		c.clearRestartWait(r.Name)
		c.log.Warn("in-place restart of a failed replica failed; it will be replaced", "volume", vv.vol.Name, "replica", r.Name, "node", r.Spec.Node, "err", err)
		if err := c.markFailed(r.Name); err != nil {
			return true, err
		}
		c.queue.Add(volumeKeyPrefix + vv.vol.Name)
		return true, nil
	}
	return false, nil
}

// restartRetryAfter is how long an in-place restart that its node did not
// answer waits before it is tried again. The node is either restarting
// (it answers within a second or two) or gone, and then the heartbeat
// timeout marks it down and the replica is replaced.
const restartRetryAfter = time.Second

// restartWait says how long the in-place restart of replica must still
// wait after its node did not answer; 0 when it may go.
func (c *Controller) restartWait(replica string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.restartRetry[replica]
	if !ok {
		return 0
	}
	if wait := time.Until(until); wait > 0 {
		return wait
	}
	delete(c.restartRetry, replica)
	return 0
}

func (c *Controller) setRestartWait(replica string, d time.Duration) {
	c.mu.Lock()
	c.restartRetry[replica] = time.Now().Add(d)
	c.mu.Unlock()
}

func (c *Controller) clearRestartWait(replica string) {
	c.mu.Lock()
	delete(c.restartRetry, replica)
	c.mu.Unlock()
}

// restartable says whether a replica qualifies for restartFailed (its head
// is checked on its node by restartInPlace).
func (c *Controller) restartable(vv *volumeView, r api.Replica) bool {
	if r.Spec.Deleting || r.Status.FailedAt.IsZero() || !r.Status.RestartedAt.IsZero() || !vv.nodeUp(r.Spec.Node) {
		return false
	}
	if c.starts.blocked(r.Spec.Node, r.Spec.DiskUUID) {
		return false
	}
	return slices.ContainsFunc(vv.nodes[r.Spec.Node].Status.Disks, func(d api.Disk) bool {
		return d.LvstoreUUID != "" && d.LvstoreUUID == r.Spec.DiskUUID
	})
}

// restartInPlace takes the replica out of the engine, stops it on its node
// (its data stays), checks its head is still there, and joins it to the
// engine again for rebuild. RestartedAt is recorded first, so a restart
// that fails at any step is not tried again for this failure.
func (c *Controller) restartInPlace(ctx context.Context, vv *volumeView, r api.Replica) error {
	if err := c.mutateReplica(r.Name, func(x *api.Replica) { x.Status.RestartedAt = time.Now().UTC() }); err != nil {
		return err
	}
	eng, err := c.agentFor(ctx, vv, vv.engine.Spec.Node)
	if err != nil {
		return err
	}
	// Best effort, as in removeReplica: an engine that already dropped the
	// failed replica answers that it is not a member.
	if err := eng.EngineReplicaRemove(ctx, vv.engine.Name, r.Name); err != nil {
		c.log.Debug("engine replica remove", "engine", vv.engine.Name, "replica", r.Name, "err", err)
	}
	ag, err := c.agentFor(ctx, vv, r.Spec.Node)
	if err != nil {
		return err
	}
	if err := ag.ReplicaDelete(ctx, r.Name, false); err != nil {
		return fmt.Errorf("stop failed replica %s on %s: %w", r.Name, r.Spec.Node, err)
	}
	got, err := ag.ReplicaGet(ctx, r.Name)
	if err != nil {
		return fmt.Errorf("replica %s on %s: %w", r.Name, r.Spec.Node, err)
	}
	if got.State == improto.StateError {
		return fmt.Errorf("replica %s on %s cannot be reused: %s", r.Name, r.Spec.Node, got.Error)
	}
	var restarted api.Replica
	err = c.mutateReplica(r.Name, func(x *api.Replica) {
		x.Status.FailedAt = time.Time{}
		x.Status.State, x.Status.Mode = api.InstanceStopped, ""
		x.Status.Address, x.Status.Export = "", ""
		restarted = *x
	})
	if err != nil {
		return err
	}
	c.log.Info("restarting failed replica in place", "volume", vv.vol.Name, "replica", r.Name, "node", r.Spec.Node)
	return c.addToEngine(ctx, vv, restarted)
}
