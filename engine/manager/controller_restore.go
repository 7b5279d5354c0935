package manager

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// DefectDRRestoreNoResume re-introduces seed 000's symptom as DESIGN.md
// words it: an interrupted restore (engine death, node down) is taken for a
// restore failure on every replica, so the standby volume ends faulted with
// RestoreFailure and is never resumed (auto-salvage never applies to
// restoring volumes). It flips that one decision in engineDied; the data
// path and the checkers are untouched.
const DefectDRRestoreNoResume = "dr-restore-no-resume"

// restoreInterrupted is the restore error the defect records.
const restoreInterrupted = "restore interrupted"

// requestedBackup is the backup a restoring volume's replicas must hold:
// for a DR volume the newest backup of its source (status.lastBackup), for
// a plain restore the one its URL names.
func requestedBackup(v api.Volume) string {
	if v.Status.IsStandby {
		return v.Status.LastBackup
	}
	_, b, _ := restoreSource(v)
	return b
}

// restoreFailed reports a restoring volume whose replicas all failed: it
// stays faulted (Restore False/RestoreFailure) until it is deleted.
func restoreFailed(v api.Volume) bool {
	for _, cd := range v.Status.Conditions {
		if cd.Type == api.ConditionRestore {
			return !cd.Status && cd.Reason == api.RestoreReasonFailure
		}
	}
	return false
}

// syncLastBackup derives status.lastBackup(At) from the volume's backup
// volume (F5, Longhorn's ReconcileBackupVolumeState): looked up by the
// volume's target and its source name (the volume itself, or the volume a
// restore or DR volume came from); cleared when there is none.
func (c *Controller) syncLastBackup(vv *volumeView) error {
	var last string
	var at time.Time
	if bv := vv.backupVolume; bv != nil && bv.Status.LastBackupName != "" {
		last, at = bv.Status.LastBackupName, bv.Status.LastBackupAt
	}
	if last == vv.vol.Status.LastBackup && at.Equal(vv.vol.Status.LastBackupAt) {
		return nil
	}
	vv.vol.Status.LastBackup, vv.vol.Status.LastBackupAt = last, at
	return c.mutateVolume(vv.vol.Name, func(tx *Tx, v *api.Volume) error {
		v.Status.LastBackup, v.Status.LastBackupAt = last, at
		return nil
	})
}

// reconcileLastBackup derives one volume's lastBackup (F5). It is queued
// by a change of the volume's backup volume and by the periodic resync,
// not by the volume's own passes: an attached volume is re-queued every
// MonitorInterval, and deriving it there would hide a lost backup volume
// event within a second (seed 001's defect would go unseen but for
// detached volumes).
func (c *Controller) reconcileLastBackup(name string) error {
	vv, err := c.loadVolume(name)
	if err != nil || !vv.exists || vv.vol.Status.State == api.VolumeDeleting {
		return err
	}
	return c.syncLastBackup(&vv)
}

// backupSourceOf is what a volume's lastBackup follows: the backup volume
// of its source (the volume itself, or the volume a restore or DR volume
// came from) on its backup target.
func backupSourceOf(v api.Volume) (source, target string) {
	source = v.Name
	if s, _, ok := restoreSource(v); ok {
		source = s
	}
	return source, backupTargetOf(v)
}

// pickRestoreNode chooses the node a restoring volume is attached to by
// the system: an up node holding one of its usable replicas (name order),
// else any up node; never avoid.
func pickRestoreNode(vv *volumeView, avoid string) string {
	var withReplica []string
	for _, r := range activeReplicas(vv.replicas) {
		if r.Spec.Node != avoid && vv.nodeUp(r.Spec.Node) {
			withReplica = append(withReplica, r.Spec.Node)
		}
	}
	sort.Strings(withReplica)
	if len(withReplica) > 0 {
		return withReplica[0]
	}
	for _, n := range vv.nodeList {
		if n.Name != avoid && n.Status.State == api.NodeUp {
			return n.Name
		}
	}
	return ""
}

// attachForRestore attaches a detached restoring volume on a node the
// system picks, unless its restore failed for good.
func (c *Controller) attachForRestore(vv *volumeView) error {
	if restoreFailed(vv.vol) {
		return nil
	}
	node := pickRestoreNode(vv, "")
	if node == "" {
		return nil // a node change re-queues the volume
	}
	return c.mutateVolume(vv.vol.Name, func(tx *Tx, v *api.Volume) error {
		if v.Status.State == api.VolumeDetached && v.Spec.NodeID == "" && v.Status.RestoreRequired {
			v.Spec.NodeID = node
			v.Status.State = api.VolumeAttaching
		}
		return nil
	})
}

// failRestoreVolume records that every replica's restore failed: faulted,
// Restore False/RestoreFailure, detached; never auto-salvaged.
func (c *Controller) failRestoreVolume(ctx context.Context, vv *volumeView, why string) error {
	c.log.Warn("all replica restores failed: the volume is faulted", "volume", vv.vol.Name, "cause", why)
	if err := c.stopEngine(ctx, vv); err != nil {
		c.log.Debug("stop engine of failed restore", "volume", vv.vol.Name, "err", err)
	}
	return c.mutateVolume(vv.vol.Name, func(tx *Tx, v *api.Volume) error {
		if v.Status.State == api.VolumeDeleting {
			return nil // deleted meanwhile: detached would lose the delete
		}
		setRobustness(v, api.RobustnessFaulted, tx.Now())
		setCondition(v, api.ConditionRestore, false, api.RestoreReasonFailure, "All replica restore failed and the volume became Faulted: "+why, tx.Now())
		setCondition(v, api.ConditionReady, false, api.RestoreReasonFailure, why, tx.Now())
		v.Spec.NodeID = ""
		v.Status.State = api.VolumeDetached
		v.Status.Node, v.Status.Endpoint = "", ""
		return nil
	})
}

// monitorRestore runs a restoring volume's replicas toward the requested
// backup (spec "Seed 000", engine items 2–4): every replica pulls from the
// target itself; a replica whose restore reports an error is failed (a
// restore error), and when all are failed the volume is faulted for good.
// A replica that is not restoring and does not hold the requested backup
// is (re)started from its committed lastRestored. New replicas are
// restored, not rebuilt. A plain restore detaches itself when done.
func (c *Controller) monitorRestore(ctx context.Context, vv *volumeView) error {
	name := vv.vol.Name
	requested := requestedBackup(vv.vol)
	target, err := c.targetAccess(backupTargetOf(vv.vol))
	if err != nil {
		return err
	}
	srcVol, _, _ := restoreSource(vv.vol)

	// Replicas on down nodes cannot restore: count them failed so a
	// replacement is scheduled; they are dropped once the volume caught up.
	for _, r := range activeReplicas(vv.replicas) {
		if !vv.nodeUp(r.Spec.Node) {
			if err := c.markFailed(r.Name); err != nil {
				return err
			}
			c.queue.Add(volumeKeyPrefix + name)
			return nil
		}
	}
	statuses := map[string]improto.RestoreStatus{}
	var restoreErrs []string
	for _, r := range activeReplicas(vv.replicas) {
		if r.Status.State != api.InstanceRunning {
			if _, err := c.startReplica(ctx, vv, r); err != nil {
				continue
			}
		}
		ag, err := c.agentFor(ctx, vv, r.Spec.Node)
		if err != nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, PollTimeout)
		st, err := ag.ReplicaRestoreStatus(pctx, r.Name)
		cancel()
		if err != nil {
			c.log.Debug("replica restore status", "replica", r.Name, "err", err)
			continue
		}
		if st.State == improto.JobError {
			restoreErrs = append(restoreErrs, fmt.Sprintf("%s: %s", r.Name, st.Error))
			if err := c.failRestoreReplica(ctx, vv, r, st); err != nil {
				return err
			}
			continue
		}
		statuses[r.Name] = st
	}
	if len(statuses) == 0 && len(restoreErrs) > 0 {
		return c.failRestoreVolume(ctx, vv, restoreErrs[0])
	}

	restoring, common, first := false, "", true
	for _, st := range statuses {
		restoring = restoring || st.IsRestoring
		if first {
			common, first = st.LastRestored, false
		} else if st.LastRestored != common {
			common = ""
		}
	}
	if requested != "" && !restoring && len(restoreErrs) == 0 {
		for rn, st := range statuses {
			if st.LastRestored == requested {
				continue
			}
			r := replicaNamed(vv.replicas, rn)
			ag, err := c.agentFor(ctx, vv, r.Spec.Node)
			if err != nil {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, PollTimeout)
			st, err = ag.ReplicaRestoreStart(pctx, improto.ReplicaRestoreRequest{
				Replica: rn, Target: target, Volume: srcVol, Backup: requested, RateLimit: c.m.cfg.RestoreRateLimit,
			})
			cancel()
			var rpcErr *jsonrpc.Error
			if errors.As(err, &rpcErr) {
				c.log.Warn("replica refused the restore", "replica", rn, "err", err)
				continue
			}
			if err != nil {
				return err
			}
			c.log.Info("replica restore started", "volume", name, "replica", rn, "backup", requested, "from", statuses[rn].LastRestored)
			statuses[rn] = st
			restoring = restoring || st.IsRestoring
		}
	}

	caughtUp := requested != "" && !restoring && common == requested && len(statuses) > 0
	running := len(statuses)
	err = c.m.store.Update(func(tx *Tx) error {
		for rn, st := range statuses {
			x, ok, err := get[api.Replica](tx, api.KindReplica, rn)
			if err != nil || !ok {
				continue
			}
			x.Status.Restore = restoreStatusOf(st)
			if err := tx.Put(api.KindReplica, rn, x); err != nil {
				return err
			}
		}
		if vv.engine != nil {
			e, ok, err := get[api.Engine](tx, api.KindEngine, vv.engine.Name)
			if err != nil {
				return err
			}
			if ok {
				e.Spec.BackupVolume = api.BackupVolumeName(backupTargetOf(vv.vol), srcVol)
				e.Spec.RequestedBackupRestore = requested
				e.Status.LastRestoredBackup = common
				if err := tx.Put(api.KindEngine, e.Name, e); err != nil {
					return err
				}
			}
		}
		v, ok, err := get[api.Volume](tx, api.KindVolume, name)
		if err != nil || !ok || !v.Status.RestoreRequired {
			return err // gone, or activated meanwhile
		}
		setRobustness(&v, robustness(running, v.Spec.NumberOfReplicas), tx.Now())
		if restoring {
			v.Status.RestoreInitiated = true
		}
		switch {
		case caughtUp && !v.Status.IsStandby:
			v.Status.RestoreRequired = false
			setCondition(&v, api.ConditionRestore, false, api.RestoreReasonCompleted, "restored "+requested, tx.Now())
			setCondition(&v, api.ConditionReady, true, "", "", tx.Now())
			v.Spec.NodeID = "" // a restore volume detaches itself when done
			c.log.Info("restore completed", "volume", name, "backup", requested)
		case restoring:
			setCondition(&v, api.ConditionRestore, true, api.RestoreReasonProgress, "restoring "+requested, tx.Now())
			setCondition(&v, api.ConditionReady, false, api.RestoreReasonProgress, "restoring "+requested, tx.Now())
		default:
			msg := "up to date with " + common
			if !caughtUp {
				msg = "waiting to restore " + requested
			}
			setCondition(&v, api.ConditionRestore, true, api.RestoreReasonProgress, msg, tx.Now())
			setCondition(&v, api.ConditionReady, false, api.RestoreReasonProgress, msg, tx.Now())
		}
		return tx.Put(api.KindVolume, name, v)
	})
	if err != nil {
		return err
	}
	// Replicas: replace the failed ones by restoring into new ones, and
	// forget failed ones once the others caught up.
	if running < vv.vol.Spec.NumberOfReplicas {
		_, err := c.scheduleMissing(vv)
		return err
	}
	if caughtUp {
		return c.dropFailed(ctx, vv)
	}
	return nil
}

// failRestoreReplica records a restore error: the replica is failed and
// taken out of the engine, so that its RW mode there cannot revive it.
func (c *Controller) failRestoreReplica(ctx context.Context, vv *volumeView, r api.Replica, st improto.RestoreStatus) error {
	c.log.Warn("replica restore failed", "volume", vv.vol.Name, "replica", r.Name, "backup", st.Backup, "err", st.Error)
	if e := vv.engine; e != nil {
		if ag, err := c.agentFor(ctx, vv, e.Spec.Node); err == nil {
			if err := ag.EngineReplicaRemove(ctx, e.Name, r.Name); err != nil {
				c.log.Debug("engine replica remove", "engine", e.Name, "replica", r.Name, "err", err)
			}
		}
	}
	return c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.Replica](tx, api.KindReplica, r.Name)
		if err != nil || !ok {
			return err
		}
		if x.Status.FailedAt.IsZero() {
			x.Status.FailedAt = tx.Now()
		}
		x.Status.State, x.Status.Mode = api.InstanceError, api.ModeERR
		x.Status.Restore = restoreStatusOf(st)
		return tx.Put(api.KindReplica, x.Name, x)
	})
}

func restoreStatusOf(st improto.RestoreStatus) *api.RestoreStatus {
	return &api.RestoreStatus{
		IsRestoring: st.IsRestoring, LastRestored: st.LastRestored, Backup: st.Backup,
		Progress: st.Progress, State: st.State, Error: st.Error, BytesPulled: st.BytesPulled,
	}
}

func replicaNamed(reps []api.Replica, name string) api.Replica {
	for _, r := range reps {
		if r.Name == name {
			return r
		}
	}
	return api.Replica{}
}

// interruptRestore is engineDied's decision for a restoring volume. An
// engine death or a node going down is an interruption, not a restore
// error: the replicas keep their committed lastRestored and the restore
// resumes after the reattach. With DefectDRRestoreNoResume it is taken for
// a restore error on every replica.
func (c *Controller) interruptRestore(tx *Tx, x *api.Replica) {
	if !c.m.usesDefect(DefectDRRestoreNoResume) {
		return
	}
	if x.Status.FailedAt.IsZero() {
		x.Status.FailedAt = tx.Now()
	}
	x.Status.State, x.Status.Mode = api.InstanceError, api.ModeERR
	st := api.RestoreStatus{State: api.RestoreError, Error: restoreInterrupted}
	if x.Status.Restore != nil {
		st.Backup = x.Status.Restore.Backup
	}
	x.Status.Restore = &st
}
