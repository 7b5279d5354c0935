package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// backupTargetKeyPrefix queues the availability check of one target on the
// controller's targets queue.
const backupTargetKeyPrefix = "backuptarget/"

// backupTargetCheckTimeout bounds one availability check, so that a target
// that hangs is reported unavailable in seconds rather than blocking a
// worker.
const backupTargetCheckTimeout = 10 * time.Second

// syncBackupTarget checks a target's availability when a check is due:
// one was requested (create, update, POST .../sync set SyncRequestedAt), or
// PollInterval has passed since the last one. Otherwise it re-queues the key
// for when the next one is due. Every status write is an updated event on
// the change stream; the event re-queues the key, which then finds nothing
// due.
func (c *Controller) syncBackupTarget(ctx context.Context, name string) error {
	key := backupTargetKeyPrefix + name
	var bt api.BackupTarget
	var secret string
	var found bool
	err := c.m.store.View(func(tx *Tx) error {
		var err error
		if bt, found, err = get[api.BackupTarget](tx, api.KindBackupTarget, name); err != nil || !found {
			return err
		}
		secret, err = tx.secret(name)
		return err
	})
	if err != nil || !found {
		return err
	}
	last, poll := bt.Status.LastSyncedAt, time.Duration(bt.Spec.PollInterval)
	if wait := time.Until(last.Add(poll)); !last.IsZero() && !bt.Spec.SyncRequestedAt.After(last) && wait > 0 {
		c.targets.AddAfter(key, wait)
		return nil
	}

	start := time.Now().UTC()
	checkErr := checkBackupTarget(ctx, bt.Spec, secret)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the check proves nothing
	}
	if checkErr == nil {
		// Before the status: whoever waits for this sync then finds the
		// target's backup volumes listed.
		if err := c.discoverBackupVolumes(ctx, name); err != nil {
			c.log.Warn("list backup volumes on target", "target", name, "err", err)
		}
	}
	status := api.BackupTargetStatus{Available: checkErr == nil, LastSyncedAt: start}
	if checkErr != nil {
		status.Message = checkErr.Error()
	}
	err = c.m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, name)
		if err != nil || !ok {
			return err
		}
		// The spec changed during the check: its event queued a new one,
		// and this result is about the old spec.
		if !sameBackupTargetSpec(x.Spec, bt.Spec) {
			return nil
		}
		if x.Status.Available != status.Available {
			c.log.Info("backup target availability changed", "target", name, "available", status.Available, "message", status.Message)
		}
		x.Status = status
		return tx.Put(api.KindBackupTarget, name, x)
	})
	if err != nil {
		return err
	}
	c.targets.AddAfter(key, poll)
	return nil
}

// checkBackupTarget opens the target as backupstore does for every backup:
// the URL parses, the directory or bucket exists and the keys are accepted.
// The error names its kind (unreachable, access denied, not found) first.
func checkBackupTarget(ctx context.Context, spec api.BackupTargetSpec, secret string) error {
	ctx, cancel := context.WithTimeout(ctx, backupTargetCheckTimeout)
	defer cancel()
	var cred backupstore.Credential
	if c := spec.Credential; c != nil {
		cred = backupstore.Credential{AccessKey: c.AccessKey, SecretKey: secret, Endpoint: c.Endpoint}
	}
	_, err := backupstore.Open(ctx, spec.URL, cred)
	if err == nil {
		return nil
	}
	kind := "error"
	for _, k := range []struct {
		err  error
		what string
	}{
		{backupstore.ErrUnreachable, "unreachable"},
		{backupstore.ErrAccessDenied, "access denied"},
		{backupstore.ErrNotFound, "not found"},
		{backupstore.ErrInvalidURL, "invalid URL"},
	} {
		if errors.Is(err, k.err) {
			kind = k.what
			break
		}
	}
	if errors.Is(err, context.DeadlineExceeded) && kind == "error" {
		kind = "unreachable"
	}
	return fmt.Errorf("%s: %w", kind, err)
}

// sameBackupTargetSpec compares two specs, credentials by value.
func sameBackupTargetSpec(a, b api.BackupTargetSpec) bool {
	if a.URL != b.URL || a.PollInterval != b.PollInterval || !a.SyncRequestedAt.Equal(b.SyncRequestedAt) {
		return false
	}
	if (a.Credential == nil) != (b.Credential == nil) {
		return false
	}
	return a.Credential == nil || *a.Credential == *b.Credential
}

// queueBackupTargets queues every target's check (from the resync).
func (c *Controller) queueBackupTargets(tx *Tx) error {
	bts, err := list[api.BackupTarget](tx, api.KindBackupTarget, nil)
	for _, bt := range bts {
		c.targets.Add(backupTargetKeyPrefix + bt.Name)
	}
	return err
}

// queueBackupWork queues every backup volume's sync check and every backup
// that is not finished (from the resync, and so after a manager restart).
func (c *Controller) queueBackupWork(tx *Tx) error {
	bvs, err := list[api.BackupVolume](tx, api.KindBackupVolume, nil)
	if err != nil {
		return err
	}
	for _, bv := range bvs {
		c.backups.Add(backupVolumeKeyPrefix + bv.Name)
	}
	bs, err := list(tx, api.KindBackup, func(b api.Backup) bool {
		return b.Spec.Deleting || b.Status.State != api.BackupStateCompleted && b.Status.State != api.BackupStateError
	})
	for _, b := range bs {
		c.backups.Add(backupKeyPrefix + b.Name)
	}
	return err
}
