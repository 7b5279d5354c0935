package manager

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// DefectSysbackupStaleLastBackup re-introduces seed 001 (Longhorn #10058)
// by its two pre-fix code paths, which touch no data: the BackupVolume →
// Volume event is keyed by the backup volume's name (which is never a
// volume's name, so a completed backup does not re-queue its volume), and
// the system backup's wait takes a Completed backup as done without
// waiting for the volume's lastBackup to name it, reading the volumes for
// the bundle in the same pass. A volume whose lastBackup is not refreshed
// by anything else (a detached one) is then recorded with its previous
// lastBackup, and a system restore brings back old or no data.
const DefectSysbackupStaleLastBackup = "sysbackup-stale-last-backup"

// Queue keys of the system work, which runs on the controller's system
// queue: it waits on backups and talks to the default target, and must
// hold up neither volumes nor backups.
const (
	systemBackupKeyPrefix  = "systembackup/"
	systemRestoreKeyPrefix = "systemrestore/"
)

const (
	// systemBackupPoll is how often a system backup looks at its volume
	// backups while it waits for them (Longhorn polls every 5 s; backup
	// completion also queues it at once).
	systemBackupPoll = time.Second
	// systemBackupTimeout bounds a system backup from its start to the
	// bundle written (Longhorn's VolumeBackupTimeout).
	systemBackupTimeout = 10 * time.Minute
)

// Reasons recorded in a system backup's status.volumes[].skipped.
const (
	skipStandby    = "standby"
	skipRestoring  = "restoring"
	skipDisabled   = "policy disabled"
	skipUpToDate   = "up to date"
	skipVolumeGone = "deleted during the system backup"
)

// reconcileSystemBackup drives one system backup:
//
//	"" → VolumeBackup → BackingImageBackup → Generating → Uploading → Ready
//
// or Error at any step; a system backup marked deleting has its bundle
// removed from the default target, then its record.
func (c *Controller) reconcileSystemBackup(ctx context.Context, name string) error {
	sb, ok, err := getOne2[api.SystemBackup](c.m.store, api.KindSystemBackup, name)
	if err != nil || !ok {
		return err
	}
	if sb.Spec.Deleting {
		return c.deleteSystemBackupData(ctx, sb)
	}
	switch sb.Status.State {
	case api.SystemBackupStateNone:
		return c.planSystemBackup(ctx, sb)
	case api.SystemBackupStateVolumeBackup:
		done, err := c.progressVolumeBackups(sb.Name)
		if err != nil || !done {
			return err
		}
		return c.writeSystemBackup(ctx, sb.Name)
	case api.SystemBackupStateBackingImageBackup, api.SystemBackupStateGenerating, api.SystemBackupStateUploading:
		return c.writeSystemBackup(ctx, sb.Name)
	}
	return nil
}

// planSystemBackup decides, per volume, whether the system backup takes a
// backup (Longhorn's volume backup policies) and moves to VolumeBackup.
// Standby volumes are never touched, restoring ones neither.
func (c *Controller) planSystemBackup(ctx context.Context, sb api.SystemBackup) error {
	var vols []api.Volume
	if err := c.m.store.View(func(tx *Tx) (err error) {
		vols, err = list[api.Volume](tx, api.KindVolume, func(v api.Volume) bool { return v.Status.State != api.VolumeDeleting })
		return err
	}); err != nil {
		return err
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].Name < vols[j].Name })
	entries := make([]api.SystemBackupVolume, 0, len(vols))
	for _, v := range vols {
		e := api.SystemBackupVolume{Volume: v.Name, BackupTargetName: backupTargetOf(v)}
		switch {
		case v.Status.IsStandby:
			e.Skipped = skipStandby
		case v.Status.RestoreRequired:
			e.Skipped = skipRestoring
		case sb.Spec.VolumeBackupPolicy == api.VolumeBackupPolicyDisabled:
			e.Skipped = skipDisabled
		case sb.Spec.VolumeBackupPolicy == api.VolumeBackupPolicyIfNotPresent && c.backupUpToDate(ctx, v):
			e.Skipped = skipUpToDate
		}
		entries = append(entries, e)
	}
	err := c.mutateSystemBackup(sb.Name, func(tx *Tx, x *api.SystemBackup) error {
		if x.Status.State != api.SystemBackupStateNone {
			return nil
		}
		x.Status.State = api.SystemBackupStateVolumeBackup
		x.Status.StartedAt = tx.Now()
		x.Status.Version = Version
		x.Status.Volumes = entries
		return nil
	})
	if err == nil {
		c.system.Add(systemBackupKeyPrefix + sb.Name)
	}
	return err
}

// backupUpToDate is the if-not-present rule: the volume's lastBackup is a
// completed backup whose snapshot still exists and is the volume's newest,
// and the head holds nothing written since (asked of a replica's node).
// Anything it cannot tell counts as not up to date: a backup too many is
// cheap, one too few loses data.
func (c *Controller) backupUpToDate(ctx context.Context, v api.Volume) bool {
	if v.Status.LastBackup == "" {
		return false
	}
	vv, err := c.loadVolume(v.Name)
	if err != nil || !vv.exists {
		return false
	}
	b, ok, err := getOne2[api.Backup](c.m.store, api.KindBackup, v.Status.LastBackup)
	if err != nil || !ok || b.Status.State != api.BackupStateCompleted {
		return false
	}
	var snap *api.Snapshot
	for i, s := range vv.snaps {
		if s.Spec.SnapshotName == b.Spec.SnapshotName {
			snap = &vv.snaps[i]
		}
	}
	if snap == nil || snap.Status.State != api.SnapshotReady {
		return false
	}
	for _, s := range vv.snaps {
		if s.Status.CreatedAt.After(snap.Status.CreatedAt) {
			return false
		}
	}
	for _, r := range activeReplicas(vv.replicas) {
		if !vv.nodeUp(r.Spec.Node) {
			continue
		}
		ag, err := c.agentFor(ctx, &vv, r.Spec.Node)
		if err != nil {
			continue
		}
		info, err := ag.ReplicaGet(ctx, r.Name)
		if err != nil {
			continue
		}
		return info.HeadAllocatedClusters == 0
	}
	return false
}

// progressVolumeBackups is one pass of the VolumeBackup state, all in one
// transaction: it attaches detached volumes for maintenance, requests each
// volume's backup once the volume is attached, and counts a backup done
// when it is Completed and the volume's lastBackup names it (F5: the
// volume reconcile writes lastBackup, asynchronously). A maintenance
// attachment is undone as soon as its backup is done. It reports whether
// every volume is done.
func (c *Controller) progressVolumeBackups(name string) (done bool, err error) {
	stale := c.m.usesDefect(DefectSysbackupStaleLastBackup)
	var failure string
	err = c.m.store.Update(func(tx *Tx) error {
		done, failure = false, ""
		sb, ok, err := get[api.SystemBackup](tx, api.KindSystemBackup, name)
		if err != nil || !ok || sb.Status.State != api.SystemBackupStateVolumeBackup || sb.Spec.Deleting {
			return err
		}
		all := true
		var pending []string
		for i := range sb.Status.Volumes {
			e := &sb.Status.Volumes[i]
			ok, msg, err := c.progressVolumeBackup(tx, sb, e, stale)
			if err != nil {
				return err
			}
			if msg != "" {
				failure = msg
			}
			if !ok {
				all = false
				pending = append(pending, e.Volume)
			}
		}
		if failure == "" && !all && tx.Now().Sub(sb.Status.StartedAt) > systemBackupTimeout {
			failure = fmt.Sprintf("volume backups not done within %s: %s", systemBackupTimeout, strings.Join(pending, ", "))
		}
		switch {
		case failure != "":
			sb.Status.State, sb.Status.Error = api.SystemBackupStateError, failure
			if err := undoMaintenance(tx, &sb); err != nil {
				return err
			}
		case all:
			sb.Status.State = api.SystemBackupStateBackingImageBackup
			done = true
		}
		return tx.Put(api.KindSystemBackup, name, sb)
	})
	if err != nil {
		return false, err
	}
	if failure != "" {
		c.log.Warn("system backup failed", "system_backup", name, "err", failure)
		return false, nil
	}
	if !done {
		c.system.AddAfter(systemBackupKeyPrefix+name, systemBackupPoll)
	}
	return done, nil
}

// progressVolumeBackup moves one volume's part of a system backup along
// and reports whether it is done, or a message when it failed.
func (c *Controller) progressVolumeBackup(tx *Tx, sb api.SystemBackup, e *api.SystemBackupVolume, stale bool) (bool, string, error) {
	if e.Skipped != "" {
		return true, "", nil
	}
	v, ok, err := get[api.Volume](tx, api.KindVolume, e.Volume)
	if err != nil {
		return false, "", err
	}
	if !ok || v.Status.State == api.VolumeDeleting {
		e.Skipped = skipVolumeGone
		return true, "", nil
	}
	if e.Backup == "" {
		switch {
		case v.Status.State == api.VolumeAttached && v.Spec.NodeID != "" && v.Spec.NodeID == v.Status.Node:
			req := api.BackupCreateRequest{Name: newBackupName(), Volume: v.Name, Labels: map[string]string{api.SystemBackupLabel: sb.Name}}
			req.SnapshotName = backupSnapshotName(req.Name)
			req.Compression = string(backupstore.CompressionLZ4)
			if _, err := putBackupRequest(tx, req); err != nil {
				return false, fmt.Sprintf("back up volume %s: %v", v.Name, err), nil
			}
			e.Backup = req.Name
		case v.Status.State == api.VolumeDetached && v.Spec.NodeID == "" && e.MaintenanceNode == "":
			node, err := maintenanceNode(tx, v.Name)
			if err != nil || node == "" {
				return false, "", err // a node change re-queues nothing here: the poll does
			}
			v.Spec.NodeID, v.Spec.DisableFrontend = node, true
			v.Status.State = api.VolumeAttaching
			e.MaintenanceNode = node
			if err := tx.Put(api.KindVolume, v.Name, v); err != nil {
				return false, "", err
			}
		}
		return false, "", nil
	}
	b, ok, err := get[api.Backup](tx, api.KindBackup, e.Backup)
	if err != nil {
		return false, "", err
	}
	switch {
	case !ok:
		return false, fmt.Sprintf("backup %s of volume %s disappeared", e.Backup, e.Volume), nil
	case b.Status.State == api.BackupStateError:
		return false, fmt.Sprintf("backup %s of volume %s failed: %s", e.Backup, e.Volume, b.Status.Error), nil
	case b.Status.State != api.BackupStateCompleted:
		return false, "", nil
	case !stale && v.Status.LastBackup != e.Backup:
		return false, "", nil // the volume reconcile has not caught up yet
	}
	if e.MaintenanceNode != "" && !e.Detached {
		if err := endMaintenance(tx, e); err != nil {
			return false, "", err
		}
	}
	return true, "", nil
}

// maintenanceNode is the up node holding one of the volume's usable
// replicas that a system backup attaches it to (name order).
func maintenanceNode(tx *Tx, volume string) (string, error) {
	reps, err := list(tx, api.KindReplica, func(r api.Replica) bool { return r.Spec.Volume == volume })
	if err != nil {
		return "", err
	}
	var nodes []string
	for _, r := range activeReplicas(reps) {
		n, ok, err := get[api.Node](tx, api.KindNode, r.Spec.Node)
		if err != nil {
			return "", err
		}
		if ok && n.Status.State == api.NodeUp {
			nodes = append(nodes, n.Name)
		}
	}
	sort.Strings(nodes)
	if len(nodes) == 0 {
		return "", nil
	}
	return nodes[0], nil
}

// endMaintenance detaches a volume the system backup attached, unless
// someone else changed its attachment meanwhile.
func endMaintenance(tx *Tx, e *api.SystemBackupVolume) error {
	e.Detached = true
	v, ok, err := get[api.Volume](tx, api.KindVolume, e.Volume)
	if err != nil || !ok {
		return err
	}
	if v.Spec.NodeID != e.MaintenanceNode || !v.Spec.DisableFrontend {
		return nil
	}
	v.Spec.NodeID, v.Spec.DisableFrontend = "", false
	if v.Status.State == api.VolumeAttached || v.Status.State == api.VolumeAttaching {
		v.Status.State = api.VolumeDetaching
	}
	return tx.Put(api.KindVolume, v.Name, v)
}

// undoMaintenance ends every maintenance attachment of a system backup
// that failed or is being deleted.
func undoMaintenance(tx *Tx, sb *api.SystemBackup) error {
	for i := range sb.Status.Volumes {
		e := &sb.Status.Volumes[i]
		if e.MaintenanceNode != "" && !e.Detached {
			if err := endMaintenance(tx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Controller) mutateSystemBackup(name string, fn func(tx *Tx, sb *api.SystemBackup) error) error {
	return c.m.store.Update(func(tx *Tx) error {
		sb, ok, err := get[api.SystemBackup](tx, api.KindSystemBackup, name)
		if err != nil || !ok {
			return err
		}
		if err := fn(tx, &sb); err != nil {
			return err
		}
		return tx.Put(api.KindSystemBackup, name, sb)
	})
}

// failSystemBackup records a system backup's error and ends its
// maintenance attachments.
func (c *Controller) failSystemBackup(name, msg string) error {
	c.log.Warn("system backup failed", "system_backup", name, "err", msg)
	return c.mutateSystemBackup(name, func(tx *Tx, sb *api.SystemBackup) error {
		sb.Status.State, sb.Status.Error = api.SystemBackupStateError, msg
		return undoMaintenance(tx, sb)
	})
}

// deleteSystemBackupData removes a deleted system backup's bundle and
// images from the default target, then its record. The volume backups it
// took stay: they are ordinary backups.
func (c *Controller) deleteSystemBackupData(ctx context.Context, sb api.SystemBackup) error {
	if sb.Status.State != api.SystemBackupStateNone && sb.Status.State != api.SystemBackupStateVolumeBackup {
		st, err := c.openBackupStore(ctx, api.DefaultBackupTarget)
		if err == nil {
			err = st.DeleteSystemBackup(ctx, sb.Name)
		}
		if err != nil {
			err = fmt.Errorf("delete system backup %s: %w", sb.Name, err)
			_ = c.mutateSystemBackup(sb.Name, func(tx *Tx, x *api.SystemBackup) error {
				x.Status.Error = err.Error() // shown while retrying
				return nil
			})
			return err
		}
	}
	return c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.SystemBackup](tx, api.KindSystemBackup, sb.Name)
		if err != nil || !ok {
			return err
		}
		if err := undoMaintenance(tx, &x); err != nil {
			return err
		}
		_, err = tx.Delete(api.KindSystemBackup, sb.Name)
		return err
	})
}

// queueSystemWork queues the system backups and restores that are not
// finished (after a manager restart, and on every resync).
func (c *Controller) queueSystemWork(tx *Tx) error {
	sbs, err := list(tx, api.KindSystemBackup, func(sb api.SystemBackup) bool {
		return sb.Spec.Deleting || (sb.Status.State != api.SystemBackupStateReady && sb.Status.State != api.SystemBackupStateError)
	})
	if err != nil {
		return err
	}
	for _, sb := range sbs {
		c.system.Add(systemBackupKeyPrefix + sb.Name)
	}
	srs, err := list(tx, api.KindSystemRestore, func(sr api.SystemRestore) bool {
		return sr.Status.State != api.SystemRestoreStateCompleted && sr.Status.State != api.SystemRestoreStateError
	})
	for _, sr := range srs {
		c.system.Add(systemRestoreKeyPrefix + sr.Name)
	}
	return err
}
