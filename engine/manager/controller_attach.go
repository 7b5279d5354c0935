package manager

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
)

// attach starts the usable replicas and an engine over them on the wanted
// node. With no usable replica left it auto-salvages: failed replicas that
// failed close to the last failure and hold the newest data are revived.
func (c *Controller) attach(ctx context.Context, vv *volumeView) error {
	name := vv.vol.Name
	target := vv.vol.Spec.NodeID
	if !vv.nodeUp(target) && vv.vol.Status.RestoreRequired {
		// The system attached a restoring volume; it moves it to another
		// up node instead of waiting for this one.
		if node := pickRestoreNode(vv, target); node != "" {
			c.log.Info("restoring volume moves to another node", "volume", name, "from", target, "to", node)
			return c.mutateVolume(name, func(tx *Tx, v *api.Volume) error {
				if v.Spec.NodeID == target {
					v.Spec.NodeID = node
				}
				return nil
			})
		}
	}
	if !vv.nodeUp(target) {
		return c.mutateVolume(name, func(tx *Tx, v *api.Volume) error {
			setCondition(v, api.ConditionReady, false, "NodeDown", fmt.Sprintf("attach node %s is not up", target), tx.Now())
			return nil
		})
	}
	// A leftover engine (manager restarted mid-attach, or a dead engine) is
	// replaced: nothing uses the frontend before the volume is attached.
	if err := c.stopEngine(ctx, vv); err != nil {
		return err
	}
	salvage := false
	usable := activeReplicas(vv.replicas)
	var upUsable []api.Replica
	for _, r := range usable {
		if vv.nodeUp(r.Spec.Node) {
			upUsable = append(upUsable, r)
		}
	}
	if len(upUsable) == 0 && len(usable) == 0 && vv.vol.Status.RestoreRequired && len(vv.replicas) > 0 {
		// Restore and DR volumes are never auto-salvaged (Longhorn:
		// autoSalvage && !isStandby && !restoreRequired).
		return c.failRestoreVolume(ctx, vv, "every replica failed")
	}
	if len(upUsable) == 0 && len(usable) == 0 {
		if len(vv.replicas) == 0 {
			_, err := c.scheduleMissing(vv)
			return err
		}
		c.refreshRevisions(ctx, vv)
		chosen := salvageCandidates(vv.replicas, vv.nodeUp)
		if len(chosen) == 0 {
			return c.mutateVolume(name, func(tx *Tx, v *api.Volume) error {
				setRobustness(v, api.RobustnessFaulted, tx.Now())
				setCondition(v, api.ConditionReady, false, "NoUsableReplica", "every replica failed and none can be salvaged", tx.Now())
				return nil
			})
		}
		err := c.m.store.Update(func(tx *Tx) error {
			for _, r := range chosen {
				x, ok, err := get[api.Replica](tx, api.KindReplica, r.Name)
				if err != nil || !ok {
					return err
				}
				x.Status.FailedAt = time.Time{}
				x.Status.State = api.InstanceStopped
				x.Status.Mode = ""
				if err := tx.Put(api.KindReplica, x.Name, x); err != nil {
					return err
				}
			}
			v, ok, err := get[api.Volume](tx, api.KindVolume, name)
			if err != nil || !ok {
				return err
			}
			v.Status.LastSalvagedAt = tx.Now()
			return tx.Put(api.KindVolume, name, v)
		})
		if err != nil {
			return err
		}
		c.log.Warn("auto-salvage", "volume", name, "revived", len(chosen))
		salvage = true
		upUsable = chosen
	}
	var members []improto.EngineReplica
	for _, r := range upUsable {
		r, err := c.startReplica(ctx, vv, r)
		if err != nil {
			continue
		}
		members = append(members, improto.EngineReplica{Name: r.Name, Address: r.Status.Address, Export: r.Status.Export})
	}
	if len(members) == 0 {
		err := c.mutateVolume(name, func(tx *Tx, v *api.Volume) error {
			setRobustness(v, api.RobustnessFaulted, tx.Now())
			setCondition(v, api.ConditionReady, false, "NoReplicaStarted", "no replica could be started", tx.Now())
			return nil
		})
		if err != nil {
			return err
		}
		return fmt.Errorf("attach volume %s: no replica could be started", name)
	}
	ag, err := c.agentFor(ctx, vv, target)
	if err != nil {
		return err
	}
	eng := api.Engine{
		Name: api.EngineName(name, 0),
		Spec: api.EngineSpec{Volume: name, Node: target, Image: vv.vol.Spec.EngineImage, Size: vv.vol.Spec.Size},
	}
	info, err := ag.EngineCreate(ctx, improto.EngineCreateRequest{
		Name: eng.Name, Volume: name, Size: vv.vol.Spec.Size, Replicas: members,
		FrontendExport: name, ImagePath: vv.imagePath, Salvage: salvage,
	})
	if err != nil {
		return fmt.Errorf("create engine %s on %s: %w", eng.Name, target, err)
	}
	endpoint := info.Endpoint
	if endpoint == "" {
		endpoint = "nbd://" + vv.nodes[target].Spec.NBDAddress + "/" + name
	}
	eng.Status = api.EngineStatus{State: api.InstanceRunning, Endpoint: endpoint, CurrentImage: vv.vol.Spec.EngineImage, ReplicaModes: info.ReplicaModes}
	rw := 0
	overtaken := ""
	err = c.m.store.Update(func(tx *Tx) error {
		if err := tx.Put(api.KindEngine, eng.Name, eng); err != nil {
			return err
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
		if v.Status.State != api.VolumeAttaching {
			// A delete or a detach arrived while the engine was being
			// created. The engine is recorded, so the state the volume is
			// in now stops it; writing attached over that state would
			// lose the request (a forced delete then ended as a detached
			// volume that stays).
			overtaken = v.Status.State
			return nil
		}
		v.Status.State = api.VolumeAttached
		v.Status.Node = target
		v.Status.Endpoint = endpoint
		v.Status.CurrentImage = v.Spec.EngineImage
		setRobustness(&v, robustness(rw, v.Spec.NumberOfReplicas), tx.Now())
		switch {
		case v.Status.RestoreRequired:
			// Attached by the system to restore: no frontend for users.
			v.Status.Endpoint = ""
			setCondition(&v, api.ConditionReady, false, api.RestoreReasonProgress, "restoring from a backup", tx.Now())
		case v.Spec.DisableFrontend:
			// Attached by a system backup for maintenance: no frontend.
			v.Status.Endpoint = ""
			setCondition(&v, api.ConditionReady, true, "", "", tx.Now())
		default:
			setCondition(&v, api.ConditionReady, true, "", "", tx.Now())
		}
		return tx.Put(api.KindVolume, name, v)
	})
	if err != nil {
		return err
	}
	if overtaken != "" {
		c.log.Info("engine created for a volume that is no longer attaching", "volume", name, "engine", eng.Name, "node", target, "state", overtaken)
		c.queue.Add(volumeKeyPrefix + name)
		return nil
	}
	c.log.Info("volume attached", "volume", name, "node", target, "endpoint", endpoint, "replicas", len(members), "salvage", salvage)
	c.queue.AddAfter(volumeKeyPrefix+name, c.m.cfg.MonitorInterval)
	return nil
}

// applyMode records a replica's mode as the engine reported it, stamping
// healthyAt when it turns RW and failedAt when it turns ERR, and its
// revision as the engine's node last read or set it. Replicas the engine
// does not know keep their record unchanged.
func (c *Controller) applyMode(tx *Tx, name string, info improto.EngineInfo, rw *int) error {
	mode := info.ReplicaModes[name]
	if mode == "" {
		return nil
	}
	r, ok, err := get[api.Replica](tx, api.KindReplica, name)
	if err != nil || !ok {
		return err
	}
	if rev, ok := info.ReplicaRevisions[name]; ok {
		r.Status.Revision = rev
	}
	switch mode {
	case api.ModeRW:
		*rw++
		if r.Status.Mode != api.ModeRW || r.Status.HealthyAt.IsZero() {
			r.Status.HealthyAt = tx.Now()
		}
		r.Status.State = api.InstanceRunning
		r.Status.FailedAt, r.Status.RestartedAt = time.Time{}, time.Time{}
	case api.ModeERR:
		if r.Status.FailedAt.IsZero() {
			r.Status.FailedAt = tx.Now()
		}
		r.Status.State = api.InstanceError
	}
	r.Status.Mode = mode
	return tx.Put(api.KindReplica, name, r)
}

// refreshRevisions asks each replica's node for its current revision, so
// salvage compares fresh numbers.
func (c *Controller) refreshRevisions(ctx context.Context, vv *volumeView) {
	for i, r := range vv.replicas {
		ag, err := c.agentFor(ctx, vv, r.Spec.Node)
		if err != nil {
			continue
		}
		info, err := ag.ReplicaGet(ctx, r.Name)
		if err != nil {
			continue
		}
		vv.replicas[i].Status.Revision, vv.replicas[i].Status.IntentEvents = info.Revision, info.IntentEvents
		c.mutateReplica(r.Name, func(x *api.Replica) { x.Status.Revision, x.Status.IntentEvents = info.Revision, info.IntentEvents })
	}
}
