package manager

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// systemRestoreTimeout bounds how long a system restore retries reading
// its bundle and images from an unreachable default target.
const systemRestoreTimeout = 5 * time.Minute

// restoreSecretKey is where a system restore's request keeps the secret
// key of a target it may re-create (names hold no NUL); the keys go when
// the restore ends.
func restoreSecretKey(restore, target string) string {
	return restoreSecretsPrefix(restore) + target
}

func restoreSecretsPrefix(restore string) string { return "systemrestore\x00" + restore + "\x00" }

// reconcileSystemRestore drives one system restore:
//
//	Pending → Downloading (read the bundle from the default target) →
//	Restoring (targets, then backing images, then volumes) → Completed
//
// or Error. Restoring is idempotent: each object is looked up first, so a
// pass cut short by a failure is simply run again.
func (c *Controller) reconcileSystemRestore(ctx context.Context, name string) error {
	sr, ok, err := getOne2[api.SystemRestore](c.m.store, api.KindSystemRestore, name)
	if err != nil || !ok {
		return err
	}
	switch sr.Status.State {
	case api.SystemRestoreStatePending, api.SystemRestoreStateDownloading, api.SystemRestoreStateRestoring:
	default:
		return nil
	}
	if sr.Status.State == api.SystemRestoreStatePending {
		if err := c.setSystemRestoreState(name, api.SystemRestoreStateDownloading, nil); err != nil {
			return err
		}
	}
	bundle, err := c.readSystemBackupBundle(ctx, sr.Spec.SystemBackup)
	if err != nil {
		return c.retryOrFailRestore(ctx, sr, err)
	}
	if err := c.setSystemRestoreState(name, api.SystemRestoreStateRestoring, nil); err != nil {
		return err
	}
	objs, err := c.restoreSystem(ctx, sr, bundle)
	if err != nil {
		var apiErr *api.Error
		if errors.As(err, &apiErr) {
			return c.failSystemRestore(name, err.Error(), objs)
		}
		return c.retryOrFailRestore(ctx, sr, err)
	}
	c.log.Info("system restore completed", "system_restore", name, "system_backup", sr.Spec.SystemBackup, "objects", len(objs))
	return c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.SystemRestore](tx, api.KindSystemRestore, name)
		if err != nil || !ok {
			return err
		}
		x.Status.State, x.Status.Error = api.SystemRestoreStateCompleted, ""
		x.Status.CompletedAt, x.Status.Objects = tx.Now(), objs
		if err := tx.deleteSecrets(restoreSecretsPrefix(x.Name)); err != nil {
			return err
		}
		return tx.Put(api.KindSystemRestore, name, x)
	})
}

// restoreSystem restores the bundle's targets, backing images and volumes,
// in that order, and lists what it did. An *api.Error is a refusal that
// retrying will not change.
func (c *Controller) restoreSystem(ctx context.Context, sr api.SystemRestore, b api.SystemBackupBundle) ([]api.SystemRestoreObject, error) {
	var objs []api.SystemRestoreObject
	for _, bt := range b.BackupTargets {
		o, err := c.restoreBackupTarget(sr.Name, bt)
		if err != nil {
			return objs, err
		}
		objs = append(objs, o)
	}
	for _, bi := range b.BackingImages {
		o, err := c.restoreBackingImage(ctx, sr.Spec.SystemBackup, bi)
		if err != nil {
			return objs, err
		}
		objs = append(objs, o)
	}
	for _, ei := range b.EngineImages {
		o, err := c.restoreEngineImage(ei)
		if err != nil {
			return objs, err
		}
		objs = append(objs, o)
	}
	for _, v := range b.Volumes {
		o, err := c.restoreVolume(v)
		if err != nil {
			return objs, err
		}
		if o.Action == api.RestoreActionSkipped {
			c.log.Warn("system restore skipped a volume", "system_restore", sr.Name, "volume", v.Name, "reason", o.Reason)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// restoreBackupTarget re-creates a target the bundle holds and the manager
// does not; an existing one is left as it is.
func (c *Controller) restoreBackupTarget(restore string, bt api.BackupTarget) (api.SystemRestoreObject, error) {
	o := api.SystemRestoreObject{Kind: api.KindBackupTarget, Name: bt.Name, Action: api.RestoreActionUnchanged}
	err := c.m.store.Update(func(tx *Tx) error {
		cur, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, bt.Name)
		if err != nil {
			return err
		}
		if ok {
			if cur.Spec.URL != bt.Spec.URL {
				o.Reason = "exists with URL " + cur.Spec.URL + "; kept"
			}
			return nil
		}
		req := api.BackupTargetCreateRequest{Name: bt.Name, URL: bt.Spec.URL, PollInterval: bt.Spec.PollInterval}
		if cr := bt.Spec.Credential; cr != nil {
			cred := *cr
			cred.HasSecret = false
			if cr.HasSecret {
				if cred.SecretKey, err = tx.secret(restoreSecretKey(restore, bt.Name)); err != nil {
					return err
				}
				if cred.SecretKey == "" {
					return api.Invalid("backup target %q needs its secret key to be re-created: the bundle holds none; give it in targetSecrets", bt.Name)
				}
			}
			req.Credential = &cred
		}
		req.Normalize()
		if err := req.Validate(); err != nil {
			return err
		}
		if _, err := putNewBackupTarget(tx, req); err != nil {
			return err
		}
		o.Action = api.RestoreActionCreated
		return nil
	})
	return o, err
}

// restoreBackingImage re-creates a missing backing image from the copy the
// system backup stored, verified against the bundle's SHA-512.
func (c *Controller) restoreBackingImage(ctx context.Context, systemBackup string, bi api.BackingImage) (api.SystemRestoreObject, error) {
	o := api.SystemRestoreObject{Kind: api.KindBackingImage, Name: bi.Name, Action: api.RestoreActionUnchanged}
	cur, ok, err := getOne2[api.BackingImage](c.m.store, api.KindBackingImage, bi.Name)
	if err != nil {
		return o, err
	}
	if ok {
		if cur.Status.SHA512 != bi.Status.SHA512 {
			o.Reason = "exists with other contents; kept"
		}
		return o, nil
	}
	st, err := c.openBackupStore(ctx, api.DefaultBackupTarget)
	if err != nil {
		return o, err
	}
	data, err := st.GetSystemBackupImage(ctx, systemBackup, bi.Name)
	if errors.Is(err, backupstore.ErrNotFound) {
		return o, api.Invalid("backing image %s: the system backup holds no copy of it", bi.Name)
	}
	if err != nil {
		return o, err
	}
	if _, err := c.m.storeBackingImage(bi.Name, "system-backup:"+systemBackup, bytes.NewReader(data), bi.Status.SHA512); err != nil {
		var apiErr *api.Error
		if errors.As(err, &apiErr) && apiErr.Code == 409 {
			return o, nil // created meanwhile
		}
		return o, err
	}
	o.Action = api.RestoreActionCreated
	return o, nil
}

// restoreEngineImage re-registers a missing engine image whose binary is
// on this host; one that is not is skipped (a volume naming it then fails
// the restore with that cause).
func (c *Controller) restoreEngineImage(ei api.EngineImage) (api.SystemRestoreObject, error) {
	o := api.SystemRestoreObject{Kind: api.KindEngineImage, Name: ei.Name, Action: api.RestoreActionUnchanged}
	skip := func(reason string) (api.SystemRestoreObject, error) {
		_, ok, gerr := getOne2[api.EngineImage](c.m.store, api.KindEngineImage, ei.Name)
		if gerr == nil && !ok {
			o.Action, o.Reason = api.RestoreActionSkipped, reason
		}
		return o, gerr
	}
	// A bundle is read from a backup target, so its paths get the same
	// confinement as a registration through the API.
	bin, err := confined("engine image binary", ei.Spec.BinaryPath, c.m.cfg.EngineImageDirs, "--engine-image-dir")
	if err != nil {
		var refused *api.Error
		if errors.As(err, &refused) {
			return skip(refused.Message)
		}
		return skip(err.Error())
	}
	ei.Spec.BinaryPath = bin
	if st, err := os.Stat(bin); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return skip("binary " + ei.Spec.BinaryPath + " is not an executable file on this host")
	}
	err = c.m.store.Update(func(tx *Tx) error {
		if _, ok, err := get[api.EngineImage](tx, api.KindEngineImage, ei.Name); err != nil || ok {
			return err
		}
		o.Action = api.RestoreActionCreated
		x := api.EngineImage{Name: ei.Name, Spec: ei.Spec, Status: api.EngineImageStatus{State: api.EngineImageReady}}
		return tx.Put(api.KindEngineImage, x.Name, x)
	})
	return o, err
}

// restoreVolume restores one volume of the bundle (Longhorn's
// restoreVolumes): a missing one is created, from its recorded lastBackup
// on its own target when there is one (then it restores and detaches by
// itself, without its backing image, whose blocks the backup holds) and
// empty otherwise (on its backing image), except standby volumes, which are not
// re-created; an attached one is skipped; a detached one gets the
// bundle's replica count and target.
func (c *Controller) restoreVolume(v api.Volume) (api.SystemRestoreObject, error) {
	o := api.SystemRestoreObject{Kind: api.KindVolume, Name: v.Name}
	err := c.m.store.Update(func(tx *Tx) error {
		cur, ok, err := get[api.Volume](tx, api.KindVolume, v.Name)
		if err != nil {
			return err
		}
		switch {
		case ok && (cur.Spec.NodeID != "" || cur.Status.State != api.VolumeDetached):
			o.Action, o.Reason = api.RestoreActionSkipped, "volume exists and is "+cur.Status.State+": an attached volume is not restored"
			return nil
		case ok:
			o.Action = api.RestoreActionUpdated
			cur.Spec.NumberOfReplicas = v.Spec.NumberOfReplicas
			cur.Spec.BackupTargetName = v.Spec.BackupTargetName
			c.queue.Add(lastBackupKeyPrefix + cur.Name) // its target may have changed
			return tx.Put(api.KindVolume, cur.Name, cur)
		case v.Spec.Standby || v.Status.IsStandby:
			o.Action, o.Reason = api.RestoreActionSkipped, "standby volume: not re-created"
			return nil
		}
		req := api.VolumeCreateRequest{
			Name: v.Name, Size: v.Spec.Size, NumberOfReplicas: v.Spec.NumberOfReplicas,
			BackingImage: v.Spec.BackingImage, EngineImage: v.Spec.EngineImage, Frontend: v.Spec.Frontend,
			BackupTargetName: backupTargetOf(v),
		}
		o.Action, o.Reason = api.RestoreActionCreated, "no backup recorded: created empty"
		if last := v.Status.LastBackup; last != "" {
			bt, err := getNamed[api.BackupTarget](tx, api.KindBackupTarget, req.BackupTargetName, "backup target")
			if err != nil {
				return err
			}
			source, _ := backupSourceOf(v)
			req.FromBackup = api.BackupURL(bt.Spec.URL, source, last)
			o.Reason = "from " + req.FromBackup
			if req.BackingImage != "" {
				// A backup holds every block of the volume, the backing
				// image's included, and a restore writes them into a chain
				// of its own: the restored volume does not reference it.
				o.Reason += "; without backing image " + req.BackingImage + ", whose data the backup holds"
				req.BackingImage = ""
			}
		}
		req.Normalize()
		if err := req.Validate(); err != nil {
			return err
		}
		_, err = putNewVolume(tx, req)
		return err
	})
	return o, err
}

func (c *Controller) setSystemRestoreState(name, state string, objs []api.SystemRestoreObject) error {
	return c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.SystemRestore](tx, api.KindSystemRestore, name)
		if err != nil || !ok {
			return err
		}
		x.Status.State = state
		if x.Status.StartedAt.IsZero() {
			x.Status.StartedAt = tx.Now()
		}
		if objs != nil {
			x.Status.Objects = objs
		}
		return tx.Put(api.KindSystemRestore, name, x)
	})
}

// retryOrFailRestore keeps retrying a failure that may pass (an
// unreachable target) until systemRestoreTimeout, and fails at once on a
// bundle that is missing or corrupt.
func (c *Controller) retryOrFailRestore(ctx context.Context, sr api.SystemRestore, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, backupstore.ErrNotFound) || errors.Is(err, backupstore.ErrCorrupt) || time.Since(sr.Status.StartedAt) > systemRestoreTimeout {
		return c.failSystemRestore(sr.Name, err.Error(), nil)
	}
	_ = c.m.store.Update(func(tx *Tx) error {
		x, ok, err2 := get[api.SystemRestore](tx, api.KindSystemRestore, sr.Name)
		if err2 != nil || !ok {
			return err2
		}
		x.Status.Error = err.Error() // shown while retrying
		return tx.Put(api.KindSystemRestore, sr.Name, x)
	})
	return err
}

func (c *Controller) failSystemRestore(name, msg string, objs []api.SystemRestoreObject) error {
	c.log.Warn("system restore failed", "system_restore", name, "err", msg)
	return c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.SystemRestore](tx, api.KindSystemRestore, name)
		if err != nil || !ok {
			return err
		}
		x.Status.State, x.Status.Error, x.Status.CompletedAt = api.SystemRestoreStateError, msg, tx.Now()
		if err := tx.deleteSecrets(restoreSecretsPrefix(name)); err != nil {
			return err
		}
		if objs != nil {
			x.Status.Objects = objs
		}
		return tx.Put(api.KindSystemRestore, name, x)
	})
}
