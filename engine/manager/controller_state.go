package manager

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// volumeView is everything reconciling one volume needs, read in one
// transaction so the decisions are made on a consistent picture.
type volumeView struct {
	vol      api.Volume
	exists   bool
	replicas []api.Replica // this volume's
	engine   *api.Engine
	snaps    []api.Snapshot
	nodes    map[string]api.Node
	nodeList []api.Node
	all      []api.Replica // every volume's, for scheduling
	// imagePath is the binary of spec.engineImage ("" = the node's own).
	imagePath string
	backing   api.BackingImage
	// backupVolume is the backup volume the volume's lastBackup follows
	// (F5), nil when there is none.
	backupVolume *api.BackupVolume
}

func (c *Controller) loadVolume(name string) (volumeView, error) {
	var vv volumeView
	err := c.m.store.View(func(tx *Tx) error {
		var err error
		if vv.vol, vv.exists, err = get[api.Volume](tx, api.KindVolume, name); err != nil {
			return err
		}
		if vv.all, err = list[api.Replica](tx, api.KindReplica, nil); err != nil {
			return err
		}
		for _, r := range vv.all {
			if r.Spec.Volume == name {
				vv.replicas = append(vv.replicas, r)
			}
		}
		engs, err := list(tx, api.KindEngine, func(e api.Engine) bool { return e.Spec.Volume == name })
		if err != nil {
			return err
		}
		if len(engs) > 0 {
			vv.engine = &engs[0]
		}
		if vv.snaps, err = list(tx, api.KindSnapshot, func(s api.Snapshot) bool { return s.Spec.Volume == name }); err != nil {
			return err
		}
		if vv.nodeList, err = list[api.Node](tx, api.KindNode, nil); err != nil {
			return err
		}
		vv.nodes = map[string]api.Node{}
		for _, n := range vv.nodeList {
			vv.nodes[n.Name] = n
		}
		if img := vv.vol.Spec.EngineImage; img != "" {
			ei, ok, err := get[api.EngineImage](tx, api.KindEngineImage, img)
			if err != nil {
				return err
			}
			if ok {
				vv.imagePath = ei.Spec.BinaryPath
			}
		}
		if vv.exists {
			src, target := backupSourceOf(vv.vol)
			bvs, err := list(tx, api.KindBackupVolume, func(bv api.BackupVolume) bool {
				return bv.Spec.BackupTargetName == target && bv.Spec.VolumeName == src
			})
			if err != nil {
				return err
			}
			if len(bvs) > 0 {
				vv.backupVolume = &bvs[0]
			}
		}
		if b := vv.vol.Spec.BackingImage; b != "" {
			if vv.backing, _, err = get[api.BackingImage](tx, api.KindBackingImage, b); err != nil {
				return err
			}
		}
		return nil
	})
	return vv, err
}

func (vv *volumeView) nodeUp(name string) bool {
	n, ok := vv.nodes[name]
	return ok && n.Status.State == api.NodeUp
}

// agentFor returns the agent of an up node.
func (c *Controller) agentFor(ctx context.Context, vv *volumeView, node string) (NodeAgent, error) {
	n, ok := vv.nodes[node]
	if !ok {
		return nil, fmt.Errorf("node %s is not registered", node)
	}
	if n.Status.State != api.NodeUp {
		return nil, fmt.Errorf("node %s is %s", node, n.Status.State)
	}
	return c.m.cfg.Agents.Agent(ctx, n)
}

// mutateVolume re-reads the volume inside a write transaction and applies
// fn, so concurrent API changes to the spec are never overwritten.
func (c *Controller) mutateVolume(name string, fn func(tx *Tx, v *api.Volume) error) error {
	return c.m.store.Update(func(tx *Tx) error {
		v, ok, err := get[api.Volume](tx, api.KindVolume, name)
		if err != nil || !ok {
			return err
		}
		if err := fn(tx, &v); err != nil {
			return err
		}
		return tx.Put(api.KindVolume, name, v)
	})
}

// mutateReplica re-reads a replica and applies fn; a vanished replica is
// left alone.
func (c *Controller) mutateReplica(name string, fn func(r *api.Replica)) error {
	return c.m.store.Update(func(tx *Tx) error {
		r, ok, err := get[api.Replica](tx, api.KindReplica, name)
		if err != nil || !ok {
			return err
		}
		fn(&r)
		return tx.Put(api.KindReplica, name, r)
	})
}

func (c *Controller) deleteRecord(kind, name string) error {
	return c.m.store.Update(func(tx *Tx) error {
		_, err := tx.Delete(kind, name)
		return err
	})
}

// setCondition sets (or replaces) a condition, keeping its transition time
// when the status did not change.
func setCondition(v *api.Volume, typ string, status bool, reason, msg string, now time.Time) {
	for i, cd := range v.Status.Conditions {
		if cd.Type == typ {
			if cd.Status != status {
				cd.LastTransitionTime = now
			}
			cd.Status, cd.Reason, cd.Message = status, reason, msg
			v.Status.Conditions[i] = cd
			return
		}
	}
	v.Status.Conditions = append(v.Status.Conditions, api.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
}

// setRobustness sets robustness and stamps lastDegradedAt on the way into
// degraded.
func setRobustness(v *api.Volume, r string, now time.Time) {
	if r == api.RobustnessDegraded && v.Status.Robustness != api.RobustnessDegraded {
		v.Status.LastDegradedAt = now
	}
	v.Status.Robustness = r
}
