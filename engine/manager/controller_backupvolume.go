package manager

import (
	"context"
	"errors"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// codeNoDevice is the JSON-RPC error a node answers for an instance or job
// it does not know (SPDK's -ENODEV).
const codeNoDevice = -19

// drVolumesKeyPrefix queues "drvolumes/<target>/<volume>": find the DR
// volumes that follow that backup volume and queue them.
const drVolumesKeyPrefix = "drvolumes/"

// syncBackupVolume re-reads one backup volume from its target when a sync
// is due (requested through spec.syncRequestedAt, or the target's poll
// interval passed): the newest backup becomes status.lastBackupName, and
// the Backup objects follow what the target holds (found ones appear
// Completed; completed ones the target lost disappear). Its status write is
// an event that queues the volume (F5), never a direct write of the volume.
func (c *Controller) syncBackupVolume(ctx context.Context, name string) error {
	key := backupVolumeKeyPrefix + name
	var bv api.BackupVolume
	var bt api.BackupTarget
	var found, targetFound bool
	err := c.m.store.View(func(tx *Tx) error {
		var err error
		if bv, found, err = get[api.BackupVolume](tx, api.KindBackupVolume, name); err != nil || !found {
			return err
		}
		bt, targetFound, err = get[api.BackupTarget](tx, api.KindBackupTarget, bv.Spec.BackupTargetName)
		return err
	})
	if err != nil || !found || !targetFound {
		return err
	}
	last, poll := bv.Status.LastSyncedAt, time.Duration(bt.Spec.PollInterval)
	if wait := time.Until(last.Add(poll)); !last.IsZero() && !bv.Spec.SyncRequestedAt.After(last) && wait > 0 {
		c.backups.AddAfter(key, wait)
		return nil
	}
	start := time.Now().UTC()
	manifests, err := c.readBackupVolume(ctx, bv)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("backup volume sync failed", "backup_volume", name, "target", bv.Spec.BackupTargetName, "err", err)
		err = c.mutateBackupVolume(name, func(x *api.BackupVolume) { x.Status.Message = err.Error() })
		c.backups.AddAfter(key, 2*time.Second)
		return err
	}
	err = c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.BackupVolume](tx, api.KindBackupVolume, name)
		if err != nil || !ok {
			return err
		}
		x.Status = api.BackupVolumeStatus{LastSyncedAt: start, BackupCount: len(manifests)}
		for _, m := range manifests { // oldest first
			x.Status.LastBackupName, x.Status.LastBackupAt, x.Status.Size = m.Name, m.CreatedAt, m.Size
		}
		if err := tx.Put(api.KindBackupVolume, name, x); err != nil {
			return err
		}
		return c.followBackups(tx, x, bt, manifests)
	})
	if err != nil {
		return err
	}
	c.backups.AddAfter(key, poll)
	return nil
}

// readBackupVolume lists the backups of the volume on its target. A volume
// with no backup there (never backed up, or all deleted) is an empty list.
func (c *Controller) readBackupVolume(ctx context.Context, bv api.BackupVolume) ([]*backupstore.Manifest, error) {
	st, err := c.openBackupStore(ctx, bv.Spec.BackupTargetName)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ms, err := st.ListBackups(ctx, bv.Spec.VolumeName)
	if errors.Is(err, backupstore.ErrNotFound) {
		return nil, nil
	}
	return ms, err
}

// followBackups makes the Backup objects of a backup volume match the
// target: a backup the target holds but the manager does not know appears
// Completed (taken elsewhere, or before a target was re-added); a completed
// one the target no longer holds is forgotten. Running, failed and deleting
// backups are left to their own reconcile.
func (c *Controller) followBackups(tx *Tx, bv api.BackupVolume, bt api.BackupTarget, manifests []*backupstore.Manifest) error {
	known, err := list(tx, api.KindBackup, func(b api.Backup) bool {
		return b.Spec.BackupTargetName == bv.Spec.BackupTargetName && b.Spec.Volume == bv.Spec.VolumeName
	})
	if err != nil {
		return err
	}
	remote := map[string]*backupstore.Manifest{}
	for _, m := range manifests {
		remote[m.Name] = m
	}
	for _, b := range known {
		if _, ok := remote[b.Name]; !ok && b.Status.State == api.BackupStateCompleted && !b.Spec.Deleting {
			if _, err := tx.Delete(api.KindBackup, b.Name); err != nil {
				return err
			}
		}
		delete(remote, b.Name)
	}
	for _, m := range manifests {
		if _, ok := remote[m.Name]; !ok {
			continue
		}
		if _, clash, err := get[api.Backup](tx, api.KindBackup, m.Name); err != nil || clash {
			if clash {
				c.log.Warn("backup on target has the name of another known backup; not listed", "backup", m.Name, "target", bt.Name)
			}
			continue
		}
		b := api.Backup{
			Name: m.Name,
			Spec: api.BackupSpec{Volume: m.Volume, SnapshotName: m.Snapshot, BackupTargetName: bv.Spec.BackupTargetName, Labels: m.Labels, Compression: string(m.Compression)},
			Status: api.BackupStatus{
				State: api.BackupStateCompleted, Progress: 100, CreatedAt: m.CreatedAt, Size: m.Size,
				URL: api.BackupURL(bt.Spec.URL, m.Volume, m.Name),
			},
		}
		if err := tx.Put(api.KindBackup, b.Name, b); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) mutateBackupVolume(name string, fn func(bv *api.BackupVolume)) error {
	return c.m.store.Update(func(tx *Tx) error {
		bv, ok, err := get[api.BackupVolume](tx, api.KindBackupVolume, name)
		if err != nil || !ok {
			return err
		}
		fn(&bv)
		return tx.Put(api.KindBackupVolume, name, bv)
	})
}

// discoverBackupVolumes creates a backup volume for every volume the
// target holds backups of that has none yet, so that a target pointed at
// an existing store (or re-added) shows its backups.
func (c *Controller) discoverBackupVolumes(ctx context.Context, target string) error {
	st, err := c.openBackupStore(ctx, target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	vols, err := st.ListVolumes(ctx)
	if err != nil {
		return err
	}
	return c.m.store.Update(func(tx *Tx) error {
		for _, v := range vols {
			name := api.BackupVolumeName(target, v)
			if _, ok, err := get[api.BackupVolume](tx, api.KindBackupVolume, name); err != nil || ok {
				if err != nil {
					return err
				}
				continue
			}
			if err := requestBackupVolumeSync(tx, target, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// queueDRVolumes queues the DR volumes that follow the backup volume of
// (target, volume): restore volumes whose fromBackup names that volume,
// on the same target.
func (c *Controller) queueDRVolumes(target, volume string) error {
	return c.m.store.View(func(tx *Tx) error {
		vols, err := list(tx, api.KindVolume, func(v api.Volume) bool {
			src, _, ok := restoreSource(v)
			return ok && src == volume && backupTargetOf(v) == target
		})
		for _, v := range vols {
			c.queue.Add(volumeKeyPrefix + v.Name)
		}
		return err
	})
}

// backupTargetOf is the target a volume's backups go to.
func backupTargetOf(v api.Volume) string {
	if v.Spec.BackupTargetName == "" {
		return api.DefaultBackupTarget
	}
	return v.Spec.BackupTargetName
}

// restoreSource returns the source volume and the backup of a volume
// created from a backup; ok is false for other volumes.
func restoreSource(v api.Volume) (volume, backup string, ok bool) {
	if v.Spec.FromBackup == "" {
		return "", "", false
	}
	_, volume, backup, err := api.ParseBackupURL(v.Spec.FromBackup)
	return volume, backup, err == nil
}
