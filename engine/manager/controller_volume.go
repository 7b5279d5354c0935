package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// DefectCleanupDiscardsReplicas is a checker self-test, not a reproduction
// of a real bug: when an engine dies mid live-upgrade, cleanup deletes the
// replicas that hold the newest data and the volume comes back on fresh,
// empty ones (see planUpgradeCrash). A history checker must fail on it.
const DefectCleanupDiscardsReplicas = "cleanup-discards-replicas"

// reconcileVolume drives one volume through its state machine:
//
//	creating → detached ⇄ attaching → attached → detaching → detached
//	any → deleting → (gone)
//
// Replicas marked for deletion are removed first, whatever the state.
func (c *Controller) reconcileVolume(ctx context.Context, name string) error {
	vv, err := c.loadVolume(name)
	if err != nil {
		return err
	}
	if !vv.exists {
		return c.cleanupOrphans(ctx, &vv)
	}
	for _, r := range vv.replicas {
		if r.Spec.Deleting {
			if err := c.removeReplica(ctx, &vv, r, true); err != nil {
				return err
			}
			c.queue.Add(volumeKeyPrefix + name)
			return nil
		}
	}
	// A restoring volume follows its source's newest backup on every pass
	// (what it must restore next); any other volume's lastBackup is
	// derived on its own key (reconcileLastBackup).
	if vv.vol.Status.State != api.VolumeDeleting && (vv.vol.Status.IsStandby || vv.vol.Status.RestoreRequired) {
		if err := c.syncLastBackup(&vv); err != nil {
			return err
		}
	}
	switch vv.vol.Status.State {
	case api.VolumeDeleting:
		return c.finishDelete(ctx, &vv)
	case api.VolumeCreating:
		return c.create(&vv)
	case api.VolumeDetached:
		if vv.vol.Spec.NodeID != "" {
			return c.mutateVolume(name, func(tx *Tx, v *api.Volume) error {
				if v.Status.State == api.VolumeDetached && v.Spec.NodeID != "" {
					v.Status.State = api.VolumeAttaching
				}
				return nil
			})
		}
		if vv.vol.Status.RestoreRequired {
			if err := c.replenishDetached(&vv); err != nil {
				return err
			}
			return c.attachForRestore(&vv)
		}
		return c.replenishDetached(&vv)
	case api.VolumeAttaching:
		if vv.vol.Spec.NodeID == "" {
			return c.setState(name, api.VolumeDetaching)
		}
		return c.attach(ctx, &vv)
	case api.VolumeAttached:
		if vv.vol.Spec.NodeID != vv.vol.Status.Node {
			return c.setState(name, api.VolumeDetaching)
		}
		return c.monitor(ctx, &vv)
	case api.VolumeDetaching:
		return c.detach(ctx, &vv)
	}
	return fmt.Errorf("volume %s has unknown state %q", name, vv.vol.Status.State)
}

func (c *Controller) setState(name, state string) error {
	return c.mutateVolume(name, func(tx *Tx, v *api.Volume) error {
		v.Status.State = state
		return nil
	})
}

// create schedules the volume's replicas; the volume leaves creating once
// at least one is placed (the rest are placed when nodes allow).
func (c *Controller) create(vv *volumeView) error {
	placed, err := c.scheduleMissing(vv)
	if err != nil {
		return err
	}
	if placed+len(vv.replicas) == 0 {
		return nil // Scheduled=false is recorded; a node change re-queues us
	}
	return c.mutateVolume(vv.vol.Name, func(tx *Tx, v *api.Volume) error {
		if v.Status.State == api.VolumeCreating {
			v.Status.State = api.VolumeDetached
			v.Status.Robustness = api.RobustnessUnknown
		}
		return nil
	})
}

// replenishDetached places replicas a detached volume is still missing.
func (c *Controller) replenishDetached(vv *volumeView) error {
	_, err := c.scheduleMissing(vv)
	return err
}

// activeReplicas are the replicas that count toward numberOfReplicas: not
// being deleted and not failed.
func activeReplicas(reps []api.Replica) []api.Replica {
	var out []api.Replica
	for _, r := range reps {
		if !r.Spec.Deleting && r.Status.FailedAt.IsZero() {
			out = append(out, r)
		}
	}
	return out
}

// scheduleMissing creates replica records for the replicas the volume lacks
// and records the Scheduled condition. It returns how many it placed.
func (c *Controller) scheduleMissing(vv *volumeView) (int, error) {
	want := vv.vol.Spec.NumberOfReplicas - len(activeReplicas(vv.replicas))
	exclude := map[string]bool{}
	for _, r := range vv.replicas {
		exclude[r.Spec.Node] = true
	}
	var places []placement
	if want > 0 {
		places = scheduleReplicas(vv.vol, want, c.starts.schedulable(vv.nodeList), vv.all, exclude, c.m.cfg.OverProvisioningPercent)
	}
	err := c.mutateVolume(vv.vol.Name, func(tx *Tx, v *api.Volume) error {
		for _, p := range places {
			r := api.Replica{
				Name: api.NewReplicaName(v.Name),
				Spec: api.ReplicaSpec{
					Volume: v.Name, Node: p.Node, Disk: p.Disk.Name, DiskUUID: p.Disk.LvstoreUUID,
					Size: v.Spec.Size, BackingImage: v.Spec.BackingImage,
				},
				Status: api.ReplicaStatus{State: api.InstanceStopped},
			}
			if err := tx.Put(api.KindReplica, r.Name, r); err != nil {
				return err
			}
			c.log.Info("replica scheduled", "volume", v.Name, "replica", r.Name, "node", p.Node, "disk", p.Disk.Name)
		}
		if missing := want - len(places); missing > 0 {
			setCondition(v, api.ConditionScheduled, false, "NoSchedulableNode",
				fmt.Sprintf("%d of %d replicas could not be placed: need an up node without a replica of this volume and a disk with room", missing, v.Spec.NumberOfReplicas), tx.Now())
		} else {
			setCondition(v, api.ConditionScheduled, true, "", "", tx.Now())
		}
		return nil
	})
	return len(places), err
}

// replicaRequest builds the node request that starts (or reuses) a replica.
func (c *Controller) replicaRequest(vv *volumeView, r api.Replica) improto.ReplicaCreateRequest {
	req := improto.ReplicaCreateRequest{
		Name: r.Name, Volume: r.Spec.Volume, LvstoreName: r.Spec.Disk, LvstoreUUID: r.Spec.DiskUUID,
		Size: r.Spec.Size, BackingImage: r.Spec.BackingImage,
	}
	if n, ok := vv.nodes[r.Spec.Node]; ok {
		for _, d := range n.Status.Disks {
			if d.Name == r.Spec.Disk && d.LvstoreName != "" {
				req.LvstoreName = d.LvstoreName
			}
		}
	}
	if r.Spec.BackingImage != "" {
		req.BackingImageSHA512 = vv.backing.Status.SHA512
		if c.m.cfg.URL != "" {
			req.BackingImageURL = c.m.cfg.URL + "/v1/backingimages/" + r.Spec.BackingImage + "/download"
		}
	}
	return req
}

// startReplica asks the replica's node to start it and records the result;
// a failure marks the replica failed.
func (c *Controller) startReplica(ctx context.Context, vv *volumeView, r api.Replica) (api.Replica, error) {
	ag, err := c.agentFor(ctx, vv, r.Spec.Node)
	if err == nil {
		var info improto.ReplicaInfo
		info, err = ag.ReplicaCreate(ctx, c.replicaRequest(vv, r))
		if err == nil {
			c.starts.started(r.Spec.Node, r.Spec.DiskUUID)
			var out api.Replica
			err = c.mutateReplica(r.Name, func(x *api.Replica) {
				x.Status.State = api.InstanceRunning
				x.Status.Address = info.Address
				x.Status.Export = info.Export
				x.Status.Revision = info.Revision
				out = *x
			})
			return out, err
		}
	}
	// Only a node that answered and refused fails the replica; an
	// unreachable node (restarting, partitioned) is retried instead.
	var rpcErr *jsonrpc.Error
	if ctx.Err() != nil || !errors.As(err, &rpcErr) {
		c.log.Warn("replica start failed", "volume", r.Spec.Volume, "replica", r.Name, "node", r.Spec.Node, "err", err)
		return r, err
	}
	wait := c.starts.failed(r.Spec.Node, r.Spec.DiskUUID)
	c.log.Warn("replica start failed", "volume", r.Spec.Volume, "replica", r.Name, "node", r.Spec.Node, "err", err,
		"disk", r.Spec.Disk, "no_new_replicas_for", wait)
	if merr := c.markFailed(r.Name); merr != nil {
		return r, merr
	}
	return r, err
}

// markFailed records a replica failure (the first failure time is kept).
func (c *Controller) markFailed(name string) error {
	return c.m.store.Update(func(tx *Tx) error {
		r, ok, err := get[api.Replica](tx, api.KindReplica, name)
		if err != nil || !ok {
			return err
		}
		if r.Status.FailedAt.IsZero() {
			r.Status.FailedAt = tx.Now()
		}
		r.Status.State = api.InstanceError
		r.Status.Mode = api.ModeERR
		return tx.Put(api.KindReplica, name, r)
	})
}

// removeReplica takes a replica out of the engine, deletes it on its node
// and forgets it. A replica on a node that is down is forgotten with a
// warning: its lvols stay on that disk.
func (c *Controller) removeReplica(ctx context.Context, vv *volumeView, r api.Replica, cleanupDisk bool) error {
	if e := vv.engine; e != nil && vv.nodeUp(e.Spec.Node) {
		if ag, err := c.agentFor(ctx, vv, e.Spec.Node); err == nil {
			if err := ag.EngineReplicaRemove(ctx, e.Name, r.Name); err != nil {
				c.log.Debug("engine replica remove", "engine", e.Name, "replica", r.Name, "err", err)
			}
		}
	}
	if vv.nodeUp(r.Spec.Node) {
		ag, err := c.agentFor(ctx, vv, r.Spec.Node)
		if err != nil {
			return err
		}
		if err := ag.ReplicaDelete(ctx, r.Name, cleanupDisk); err != nil {
			return fmt.Errorf("delete replica %s on %s: %w", r.Name, r.Spec.Node, err)
		}
	} else {
		c.log.Warn("forgetting replica on a node that is not up; its data stays on disk", "replica", r.Name, "node", r.Spec.Node)
	}
	c.log.Info("replica removed", "volume", r.Spec.Volume, "replica", r.Name)
	return c.deleteRecord(api.KindReplica, r.Name)
}

// stopEngine deletes the engine instance (if its node is reachable) and its
// record.
func (c *Controller) stopEngine(ctx context.Context, vv *volumeView) error {
	e := vv.engine
	if e == nil {
		return nil
	}
	if vv.nodeUp(e.Spec.Node) {
		ag, err := c.agentFor(ctx, vv, e.Spec.Node)
		if err != nil {
			return err
		}
		if err := ag.EngineDelete(ctx, e.Name); err != nil {
			return fmt.Errorf("delete engine %s on %s: %w", e.Name, e.Spec.Node, err)
		}
	}
	vv.engine = nil
	return c.deleteRecord(api.KindEngine, e.Name)
}

// detach stops the engine and the replicas (their data stays).
func (c *Controller) detach(ctx context.Context, vv *volumeView) error {
	if err := c.stopEngine(ctx, vv); err != nil {
		return err
	}
	for _, r := range vv.replicas {
		if vv.nodeUp(r.Spec.Node) && r.Status.State == api.InstanceRunning {
			ag, err := c.agentFor(ctx, vv, r.Spec.Node)
			if err != nil {
				return err
			}
			if err := ag.ReplicaDelete(ctx, r.Name, false); err != nil {
				return fmt.Errorf("stop replica %s on %s: %w", r.Name, r.Spec.Node, err)
			}
		}
		err := c.mutateReplica(r.Name, func(x *api.Replica) {
			if x.Status.State != api.InstanceError {
				x.Status.State = api.InstanceStopped
			}
			x.Status.Mode, x.Status.Address, x.Status.Export = "", "", ""
		})
		if err != nil {
			return err
		}
	}
	return c.mutateVolume(vv.vol.Name, func(tx *Tx, v *api.Volume) error {
		if v.Status.State != api.VolumeDetaching {
			return nil
		}
		v.Status.State = api.VolumeDetached
		v.Status.Robustness = api.RobustnessUnknown
		v.Status.Node, v.Status.Endpoint = "", ""
		return nil
	})
}

// finishDelete removes the engine, every replica (data included), the
// snapshot records and finally the volume.
func (c *Controller) finishDelete(ctx context.Context, vv *volumeView) error {
	if err := c.stopEngine(ctx, vv); err != nil {
		return err
	}
	for _, r := range vv.replicas {
		if err := c.removeReplica(ctx, vv, r, true); err != nil {
			return err
		}
	}
	return c.m.store.Update(func(tx *Tx) error {
		for _, s := range vv.snaps {
			if _, err := tx.Delete(api.KindSnapshot, s.Name); err != nil {
				return err
			}
		}
		_, err := tx.Delete(api.KindVolume, vv.vol.Name)
		return err
	})
}

// cleanupOrphans removes what is left of a volume that no longer exists.
func (c *Controller) cleanupOrphans(ctx context.Context, vv *volumeView) error {
	var errs []error
	if err := c.stopEngine(ctx, vv); err != nil {
		errs = append(errs, err)
	}
	for _, r := range vv.replicas {
		if err := c.removeReplica(ctx, vv, r, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
