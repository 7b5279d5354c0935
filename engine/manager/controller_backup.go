package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// Queue keys of the backup work, which runs on the controller's backups
// queue: it talks to targets and polls nodes, and must hold up neither a
// volume's recovery nor a target's availability check.
const (
	backupKeyPrefix       = "backup/"
	backupVolumeKeyPrefix = "backupvolume/"
)

// backupPollInterval is how often a running backup's node is asked for
// progress.
const backupPollInterval = 500 * time.Millisecond

// reconcileBackup drives one Backup: New → InProgress (a node holding an
// RW replica reads the snapshot and stores it) → Completed or Error; a
// Backup marked deleting is removed from its target, then forgotten.
// Completion asks the backup volume to re-read the target; the volume's
// lastBackup follows from that, asynchronously (F5).
func (c *Controller) reconcileBackup(ctx context.Context, name string) error {
	b, ok, err := getOne2[api.Backup](c.m.store, api.KindBackup, name)
	if err != nil || !ok {
		return err
	}
	if b.Spec.Deleting {
		return c.deleteBackupData(ctx, b)
	}
	switch b.Status.State {
	case "", api.BackupStateNew:
		return c.startBackup(ctx, b)
	case api.BackupStateInProgress:
		return c.pollBackup(ctx, b)
	}
	return nil
}

// getOne2 reads one object in its own transaction.
func getOne2[T any](s *Store, kind, name string) (obj T, ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		obj, ok, err = get[T](tx, kind, name)
		return err
	})
	return obj, ok, err
}

// startBackup picks an RW replica on an up node and starts the backup
// there once the snapshot is ready.
func (c *Controller) startBackup(ctx context.Context, b api.Backup) error {
	key := backupKeyPrefix + b.Name
	vv, err := c.loadVolume(b.Spec.Volume)
	if err != nil {
		return err
	}
	if !vv.exists {
		return c.failBackup(b.Name, fmt.Sprintf("volume %s does not exist", b.Spec.Volume))
	}
	if vv.vol.Status.IsStandby {
		return c.failBackup(b.Name, fmt.Sprintf("volume %s is a standby volume: it cannot be backed up", b.Spec.Volume))
	}
	var snap *api.Snapshot
	for i, s := range vv.snaps {
		if s.Spec.SnapshotName == b.Spec.SnapshotName {
			snap = &vv.snaps[i]
		}
	}
	switch {
	case snap == nil:
		return c.failBackup(b.Name, fmt.Sprintf("snapshot %s of volume %s does not exist", b.Spec.SnapshotName, b.Spec.Volume))
	case snap.Status.State == api.SnapshotError:
		return c.failBackup(b.Name, fmt.Sprintf("snapshot %s failed: %s", b.Spec.SnapshotName, snap.Status.Message))
	case snap.Status.State != api.SnapshotReady || vv.vol.Status.State != api.VolumeAttached:
		c.backups.AddAfter(key, backupPollInterval) // the snapshot or the attach is under way
		return nil
	}
	var src *api.Replica
	for i, r := range vv.replicas {
		if r.Status.Mode == api.ModeRW && r.Status.FailedAt.IsZero() && vv.nodeUp(r.Spec.Node) {
			src = &vv.replicas[i]
			break
		}
	}
	if src == nil {
		c.backups.AddAfter(key, time.Second)
		return nil
	}
	target, err := c.targetAccess(b.Spec.BackupTargetName)
	if err != nil {
		return c.failBackup(b.Name, err.Error())
	}
	prev, prevSnap, err := c.previousBackup(b)
	if err != nil {
		return err
	}
	ag, err := c.agentFor(ctx, &vv, src.Spec.Node)
	if err != nil {
		return err
	}
	_, err = ag.ReplicaBackupStart(ctx, improto.ReplicaBackupRequest{
		Replica: src.Name, Snapshot: b.Spec.SnapshotName, Target: target, Volume: b.Spec.Volume,
		Backup: b.Name, Compression: b.Spec.Compression, Labels: b.Spec.Labels, Previous: prev, PreviousSnapshot: prevSnap,
	})
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) {
		return c.failBackup(b.Name, fmt.Sprintf("node %s refused the backup: %v", src.Spec.Node, err))
	}
	if err != nil {
		return err
	}
	c.log.Info("backup started", "backup", b.Name, "volume", b.Spec.Volume, "replica", src.Name, "node", src.Spec.Node)
	err = c.mutateBackup(b.Name, func(tx *Tx, x *api.Backup) error {
		x.Status.State = api.BackupStateInProgress
		x.Status.Replica, x.Status.Node = src.Name, src.Spec.Node
		x.Status.SnapshotCreatedAt = snap.Status.CreatedAt
		return nil
	})
	c.backups.AddAfter(key, backupPollInterval)
	return err
}

// previousBackup is the newest completed backup of the same volume on the
// same target, which the new backup is incremental to ("" for none), and
// its snapshot when that snapshot is still the volume's ("" otherwise).
func (c *Controller) previousBackup(b api.Backup) (prev, snap string, err error) {
	err = c.m.store.View(func(tx *Tx) error {
		done, err := list(tx, api.KindBackup, func(x api.Backup) bool {
			return x.Spec.Volume == b.Spec.Volume && x.Spec.BackupTargetName == b.Spec.BackupTargetName &&
				x.Status.State == api.BackupStateCompleted && !x.Spec.Deleting
		})
		var at, prevSnapAt time.Time
		for _, x := range done {
			if x.Status.CreatedAt.After(at) {
				prev, snap, at = x.Name, x.Spec.SnapshotName, x.Status.CreatedAt
				prevSnapAt = x.Status.SnapshotCreatedAt
			}
		}
		if err != nil || snap == "" {
			return err
		}
		// The allocation diff is only safe from the very snapshot the
		// previous backup read: a volume deleted and created again under
		// the same name may have a snapshot of the same name that is not it.
		s, ok, err := get[api.Snapshot](tx, api.KindSnapshot, api.SnapshotResourceName(b.Spec.Volume, snap))
		if err != nil || !ok || prevSnapAt.IsZero() || !s.Status.CreatedAt.Equal(prevSnapAt) {
			snap = ""
		}
		return err
	})
	return prev, snap, err
}

// pollBackup asks the node for the backup's progress and records the end.
func (c *Controller) pollBackup(ctx context.Context, b api.Backup) error {
	key := backupKeyPrefix + b.Name
	var node api.Node
	var found bool
	err := c.m.store.View(func(tx *Tx) error {
		var err error
		node, found, err = get[api.Node](tx, api.KindNode, b.Status.Node)
		return err
	})
	if err != nil {
		return err
	}
	if !found || node.Status.State != api.NodeUp {
		return c.failBackup(b.Name, fmt.Sprintf("node %s went down during the backup", b.Status.Node))
	}
	ag, err := c.m.cfg.Agents.Agent(ctx, node)
	if err != nil {
		return err
	}
	st, err := ag.ReplicaBackupStatus(ctx, b.Name)
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) && rpcErr.Code == codeNoDevice {
		return c.failBackup(b.Name, fmt.Sprintf("node %s no longer knows the backup (its instance manager restarted)", b.Status.Node))
	}
	if err != nil {
		return err
	}
	switch st.State {
	case improto.JobError:
		return c.failBackup(b.Name, st.Error)
	case improto.JobComplete:
		return c.completeBackup(b, st)
	}
	err = c.mutateBackup(b.Name, func(tx *Tx, x *api.Backup) error {
		x.Status.Progress, x.Status.BytesRead, x.Status.BytesUploaded = st.Progress, st.BytesRead, st.BytesUploaded
		return nil
	})
	c.backups.AddAfter(key, backupPollInterval)
	return err
}

// completeBackup records a finished backup and asks its backup volume to
// sync. It does not touch the volume: lastBackup is the volume reconcile's
// to derive from the backup volume (F5).
func (c *Controller) completeBackup(b api.Backup, st improto.BackupJobStatus) error {
	err := c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.Backup](tx, api.KindBackup, b.Name)
		if err != nil || !ok {
			return err
		}
		bt, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, x.Spec.BackupTargetName)
		if err != nil {
			return err
		}
		x.Status.State, x.Status.Progress, x.Status.Error = api.BackupStateCompleted, 100, ""
		x.Status.Size, x.Status.BytesRead, x.Status.BytesUploaded = st.Size, st.BytesRead, st.BytesUploaded
		if t, err := time.Parse(time.RFC3339Nano, st.CreatedAt); err == nil {
			x.Status.CreatedAt = t
		} else {
			x.Status.CreatedAt = tx.Now()
		}
		if ok {
			x.Status.URL = api.BackupURL(bt.Spec.URL, x.Spec.Volume, x.Name)
		}
		if err := tx.Put(api.KindBackup, x.Name, x); err != nil {
			return err
		}
		return requestBackupVolumeSync(tx, x.Spec.BackupTargetName, x.Spec.Volume)
	})
	if err == nil {
		c.log.Info("backup completed", "backup", b.Name, "volume", b.Spec.Volume, "bytes_uploaded", st.BytesUploaded)
	}
	return err
}

// requestBackupVolumeSync creates the backup volume of (target, volume)
// when missing and asks it to re-read the target.
func requestBackupVolumeSync(tx *Tx, target, volume string) error {
	name := api.BackupVolumeName(target, volume)
	bv, ok, err := get[api.BackupVolume](tx, api.KindBackupVolume, name)
	if err != nil {
		return err
	}
	if !ok {
		bv = api.BackupVolume{Name: name, Spec: api.BackupVolumeSpec{VolumeName: volume, BackupTargetName: target}}
	}
	bv.Spec.SyncRequestedAt = tx.Now()
	return tx.Put(api.KindBackupVolume, name, bv)
}

func (c *Controller) failBackup(name, msg string) error {
	c.log.Warn("backup failed", "backup", name, "err", msg)
	return c.mutateBackup(name, func(tx *Tx, x *api.Backup) error {
		x.Status.State, x.Status.Error = api.BackupStateError, msg
		return nil
	})
}

func (c *Controller) mutateBackup(name string, fn func(tx *Tx, b *api.Backup) error) error {
	return c.m.store.Update(func(tx *Tx) error {
		b, ok, err := get[api.Backup](tx, api.KindBackup, name)
		if err != nil || !ok {
			return err
		}
		if err := fn(tx, &b); err != nil {
			return err
		}
		return tx.Put(api.KindBackup, name, b)
	})
}

// deleteBackupData removes a backup from its target (collecting the blocks
// no other backup of the volume uses), then its record. It waits while any
// backup of the same volume on the same target is running: the collection
// must not sweep a block that backup counts on.
func (c *Controller) deleteBackupData(ctx context.Context, b api.Backup) error {
	key := backupKeyPrefix + b.Name
	var busy bool
	err := c.m.store.View(func(tx *Tx) error {
		running, err := list(tx, api.KindBackup, func(x api.Backup) bool {
			return x.Spec.Volume == b.Spec.Volume && x.Spec.BackupTargetName == b.Spec.BackupTargetName &&
				x.Status.State == api.BackupStateInProgress
		})
		busy = len(running) > 0
		return err
	})
	if err != nil {
		return err
	}
	if busy {
		c.backups.AddAfter(key, backupPollInterval)
		return nil
	}
	if b.Status.State == api.BackupStateCompleted || b.Status.State == api.BackupStateError {
		st, err := c.openBackupStore(ctx, b.Spec.BackupTargetName)
		if err != nil {
			return fmt.Errorf("delete backup %s: %w", b.Name, err)
		}
		gc, err := st.Delete(ctx, b.Spec.Volume, b.Name)
		if err != nil && !errors.Is(err, backupstore.ErrNotFound) {
			return fmt.Errorf("delete backup %s from target %s: %w", b.Name, b.Spec.BackupTargetName, err)
		}
		c.log.Info("backup deleted", "backup", b.Name, "volume", b.Spec.Volume, "blocks_deleted", gc.BlocksDeleted)
	}
	return c.m.store.Update(func(tx *Tx) error {
		if _, err := tx.Delete(api.KindBackup, b.Name); err != nil {
			return err
		}
		return requestBackupVolumeSync(tx, b.Spec.BackupTargetName, b.Spec.Volume)
	})
}

// targetAccess is what a node needs to reach a target, secret included.
func (c *Controller) targetAccess(name string) (improto.BackupTarget, error) {
	var out improto.BackupTarget
	err := c.m.store.View(func(tx *Tx) error {
		bt, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("backup target %s does not exist", name)
		}
		out.URL = bt.Spec.URL
		if cr := bt.Spec.Credential; cr != nil {
			out.AccessKey, out.Endpoint = cr.AccessKey, cr.Endpoint
			if out.SecretKey, err = tx.secret(name); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// openBackupStore opens a target for the manager's own reads (syncs) and
// deletions.
func (c *Controller) openBackupStore(ctx context.Context, target string) (*backupstore.Store, error) {
	acc, err := c.targetAccess(target)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, backupTargetCheckTimeout)
	defer cancel()
	t, err := backupstore.Open(ctx, acc.URL, backupstore.Credential{AccessKey: acc.AccessKey, SecretKey: acc.SecretKey, Endpoint: acc.Endpoint})
	if err != nil {
		return nil, err
	}
	return backupstore.New(t, backupstore.Options{Logger: c.log}), nil
}
