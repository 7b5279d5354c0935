package manager

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
)

// monitor polls the engine of an attached volume: it records replica modes
// and robustness, replaces failed replicas (one rebuild at a time), runs
// pending snapshots and live upgrades, and handles a dead engine by
// reattaching (salvaging when every replica failed).
func (c *Controller) monitor(ctx context.Context, vv *volumeView) error {
	name := vv.vol.Name
	defer c.queue.AddAfter(volumeKeyPrefix+name, c.m.cfg.MonitorInterval)
	info, err := c.engineInfo(ctx, vv)
	if err != nil {
		return c.engineDied(ctx, vv, err)
	}
	rw := 0
	var rob string
	err = c.m.store.Update(func(tx *Tx) error {
		e, ok, err := get[api.Engine](tx, api.KindEngine, vv.engine.Name)
		if err != nil {
			return err
		}
		newNoSpace := uint64(0)
		if ok {
			if info.NoSpaceWrites > e.Status.NoSpaceWrites {
				newNoSpace = info.NoSpaceWrites - e.Status.NoSpaceWrites
			}
			e.Status.ReplicaModes, e.Status.NoSpaceWrites = info.ReplicaModes, info.NoSpaceWrites
			if err := tx.Put(api.KindEngine, e.Name, e); err != nil {
				return err
			}
		}
		for _, r := range vv.replicas {
			if err := c.applyMode(tx, r.Name, info, &rw); err != nil {
				return err
			}
		}
		v, ok, err := get[api.Volume](tx, api.KindVolume, name)
		if err != nil || !ok {
			return err
		}
		rob = robustness(rw, v.Spec.NumberOfReplicas)
		if !writable(&v, vv, newNoSpace, tx.Now()) && rob == api.RobustnessHealthy {
			rob = api.RobustnessDegraded
		}
		if !v.Status.RestoreRequired { // monitorRestore counts restoring replicas instead
			setRobustness(&v, rob, tx.Now())
		}
		return tx.Put(api.KindVolume, name, v)
	})
	if err != nil {
		return err
	}
	if rw == 0 {
		// Every replica failed under a live engine: stop it and let attach
		// salvage what can be salvaged.
		c.log.Warn("volume faulted: no RW replica", "volume", name)
		return c.engineDied(ctx, vv, fmt.Errorf("no RW replica left"))
	}
	fresh, err := c.loadVolume(name)
	if err != nil {
		return err
	}
	vv = &fresh
	if vv.vol.Status.State != api.VolumeAttached || vv.vol.Spec.NodeID != vv.vol.Status.Node {
		// Detached or activated meanwhile: the change's event queued the
		// volume again, and no rebuild may start on its way out.
		return nil
	}
	if vv.vol.Status.RestoreRequired {
		return c.monitorRestore(ctx, vv)
	}
	if rob == api.RobustnessDegraded {
		// A replica outside the engine whose node is down cannot rejoin
		// soon: count it failed so a replacement is scheduled elsewhere.
		for _, r := range activeReplicas(vv.replicas) {
			if _, inEngine := info.ReplicaModes[r.Name]; !inEngine && !vv.nodeUp(r.Spec.Node) {
				if err := c.markFailed(r.Name); err != nil {
					return err
				}
				c.queue.Add(volumeKeyPrefix + name)
				return nil
			}
		}
		if err := c.replenish(ctx, vv, info); err != nil {
			return err
		}
	} else if err := c.dropFailed(ctx, vv); err != nil {
		return err
	}
	if err := c.runSnapshots(ctx, vv); err != nil {
		return err
	}
	if rob == api.RobustnessHealthy && vv.vol.Spec.EngineImage != vv.vol.Status.CurrentImage {
		return c.upgrade(ctx, vv)
	}
	return nil
}

// PollTimeout bounds the calls the controllers make every monitor pass
// (engine and restore status): a node that does not answer such a cheap
// call in this long is gone, and waiting longer only keeps a stale status
// (attached, healthy) on a volume whose node stopped.
const PollTimeout = 5 * time.Second

// engineInfo asks the engine's node about the engine.
func (c *Controller) engineInfo(ctx context.Context, vv *volumeView) (improto.EngineInfo, error) {
	e := vv.engine
	if e == nil {
		return improto.EngineInfo{}, fmt.Errorf("volume %s has no engine record", vv.vol.Name)
	}
	ag, err := c.agentFor(ctx, vv, e.Spec.Node)
	if err != nil {
		return improto.EngineInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, PollTimeout)
	defer cancel()
	info, err := ag.EngineGet(ctx, e.Name)
	if err != nil {
		return info, fmt.Errorf("get engine %s on %s: %w", e.Name, e.Spec.Node, err)
	}
	if info.State == improto.StateError {
		return info, fmt.Errorf("engine %s is in error: %s", e.Name, info.Error)
	}
	return info, nil
}

// engineDied handles an attached volume whose engine is gone or broken:
// the volume is faulted, replicas that were only rebuilding (WO) are
// marked failed since they lack data, the engine record is dropped, and the
// volume goes back to attaching so it is reattached to the same node. When
// a live upgrade was under way, planUpgradeCrash decides what becomes of
// the replicas.
func (c *Controller) engineDied(ctx context.Context, vv *volumeView, cause error) error {
	c.log.Warn("engine died unexpectedly", "volume", vv.vol.Name, "cause", cause)
	reason := cause.Error()
	var upg upgradeCrash
	if vv.vol.Spec.EngineImage != vv.vol.Status.CurrentImage {
		upg = c.planUpgradeCrash(vv)
		reason += "; " + upg.String()
	}
	if vv.engine != nil && vv.nodeUp(vv.engine.Spec.Node) {
		if ag, err := c.agentFor(ctx, vv, vv.engine.Spec.Node); err == nil {
			ag.EngineDelete(ctx, vv.engine.Name) // best effort: it may be gone already
		}
	}
	return c.m.store.Update(func(tx *Tx) error {
		for _, r := range vv.replicas {
			x, ok, err := get[api.Replica](tx, api.KindReplica, r.Name)
			if err != nil || !ok {
				return err
			}
			if x.Status.Mode == api.ModeWO && x.Status.FailedAt.IsZero() {
				x.Status.FailedAt = tx.Now()
				x.Status.State = api.InstanceError
				x.Status.Mode = api.ModeERR
			}
			if upg.discard {
				x.Spec.Deleting = true // removed with its data before the reattach
			}
			if vv.vol.Status.RestoreRequired {
				c.interruptRestore(tx, &x)
			}
			if err := tx.Put(api.KindReplica, x.Name, x); err != nil {
				return err
			}
		}
		if vv.engine != nil {
			if _, err := tx.Delete(api.KindEngine, vv.engine.Name); err != nil {
				return err
			}
		}
		v, ok, err := get[api.Volume](tx, api.KindVolume, vv.vol.Name)
		if err != nil || !ok {
			return err
		}
		setRobustness(&v, api.RobustnessFaulted, tx.Now())
		setCondition(&v, api.ConditionReady, false, "EngineDied", reason, tx.Now())
		v.Status.Endpoint = ""
		// Its consumers' devices went with the engine: they are replaced
		// (Longhorn's remountRequestedAt).
		v.Status.RemountRequestedAt = tx.Now()
		if v.Status.State == api.VolumeAttached {
			v.Status.State = api.VolumeAttaching
		}
		return tx.Put(api.KindVolume, v.Name, v)
	})
}

// replenish adds one replacement replica to a degraded volume unless a
// rebuild is already running; a failed replica that can be restarted in
// place is restarted instead (restartFailed). The engine rebuilds it (EngineReplicaAdd) and
// reports it RW when done. When no node is free, the oldest failed replica
// is dropped to make room for the next pass.
func (c *Controller) replenish(ctx context.Context, vv *volumeView, info improto.EngineInfo) error {
	for _, r := range vv.replicas {
		if info.ReplicaModes[r.Name] == api.ModeWO {
			return nil // one rebuild at a time
		}
	}
	if done, err := c.restartFailed(ctx, vv); done || err != nil {
		return err
	}
	// A started replica the engine does not know yet: add it.
	for _, r := range activeReplicas(vv.replicas) {
		if _, inEngine := info.ReplicaModes[r.Name]; !inEngine && vv.nodeUp(r.Spec.Node) {
			return c.addToEngine(ctx, vv, r)
		}
	}
	placed, err := c.scheduleMissing(vv)
	if err != nil || placed > 0 {
		return err
	}
	var failed []api.Replica
	for _, r := range vv.replicas {
		if !r.Status.FailedAt.IsZero() {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Status.FailedAt.Before(failed[j].Status.FailedAt) })
	return c.removeReplica(ctx, vv, failed[0], true)
}

// addToEngine starts a replica and joins it to the engine for rebuild.
func (c *Controller) addToEngine(ctx context.Context, vv *volumeView, r api.Replica) error {
	r, err := c.startReplica(ctx, vv, r)
	if err != nil {
		return err
	}
	ag, err := c.agentFor(ctx, vv, vv.engine.Spec.Node)
	if err != nil {
		return err
	}
	member := improto.EngineReplica{Name: r.Name, Address: r.Status.Address, Export: r.Status.Export}
	if err := ag.EngineReplicaAdd(ctx, vv.engine.Name, member); err != nil {
		return fmt.Errorf("add replica %s to engine %s: %w", r.Name, vv.engine.Name, err)
	}
	c.log.Info("rebuild started", "volume", vv.vol.Name, "replica", r.Name, "node", r.Spec.Node)
	return c.mutateReplica(r.Name, func(x *api.Replica) { x.Status.Mode = api.ModeWO })
}

// dropFailed removes failed replicas once the volume is healthy again.
func (c *Controller) dropFailed(ctx context.Context, vv *volumeView) error {
	for _, r := range vv.replicas {
		if !r.Status.FailedAt.IsZero() {
			if err := c.removeReplica(ctx, vv, r, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// runSnapshots takes the volume's pending snapshots through its engine.
func (c *Controller) runSnapshots(ctx context.Context, vv *volumeView) error {
	for _, s := range vv.snaps {
		if s.Status.State != api.SnapshotCreating {
			continue
		}
		ag, err := c.agentFor(ctx, vv, vv.engine.Spec.Node)
		if err != nil {
			return err
		}
		serr := ag.EngineSnapshot(ctx, vv.engine.Name, s.Spec.SnapshotName)
		err = c.m.store.Update(func(tx *Tx) error {
			x, ok, err := get[api.Snapshot](tx, api.KindSnapshot, s.Name)
			if err != nil || !ok {
				return err
			}
			if serr != nil {
				x.Status.State, x.Status.Message = api.SnapshotError, serr.Error()
			} else {
				x.Status.State, x.Status.CreatedAt = api.SnapshotReady, tx.Now()
			}
			return tx.Put(api.KindSnapshot, x.Name, x)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// upgrade switches a healthy attached volume's engine to its new image.
// If the engine dies meanwhile the volume is reattached on spec.engineImage,
// i.e. it finishes the upgrade offline.
func (c *Controller) upgrade(ctx context.Context, vv *volumeView) error {
	ag, err := c.agentFor(ctx, vv, vv.engine.Spec.Node)
	if err != nil {
		return err
	}
	if err := ag.EngineUpgrade(ctx, vv.engine.Name, vv.imagePath); err != nil {
		return fmt.Errorf("live upgrade of %s to %s: %w", vv.vol.Name, vv.vol.Spec.EngineImage, err)
	}
	return c.m.store.Update(func(tx *Tx) error {
		e, ok, err := get[api.Engine](tx, api.KindEngine, vv.engine.Name)
		if err != nil {
			return err
		}
		if ok {
			e.Spec.Image, e.Status.CurrentImage = vv.vol.Spec.EngineImage, vv.vol.Spec.EngineImage
			if err := tx.Put(api.KindEngine, e.Name, e); err != nil {
				return err
			}
		}
		v, ok, err := get[api.Volume](tx, api.KindVolume, vv.vol.Name)
		if err != nil || !ok {
			return err
		}
		v.Status.CurrentImage = vv.vol.Spec.EngineImage
		return tx.Put(api.KindVolume, v.Name, v)
	})
}
