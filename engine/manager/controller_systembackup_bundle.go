package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// writeSystemBackup carries a system backup whose volume backups are done
// through its remaining states: the backing images' contents go to the
// default target (BackingImageBackup), the bundle is read from the store
// (Generating) and written next to them (Uploading), then Ready. A target
// that fails is retried until the system backup's timeout.
func (c *Controller) writeSystemBackup(ctx context.Context, name string) error {
	sb, ok, err := getOne2[api.SystemBackup](c.m.store, api.KindSystemBackup, name)
	if err != nil || !ok {
		return err
	}
	err = c.uploadSystemBackup(ctx, sb)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil && time.Since(sb.Status.StartedAt) > systemBackupTimeout {
		return c.failSystemBackup(name, err.Error())
	}
	_ = c.mutateSystemBackup(name, func(tx *Tx, x *api.SystemBackup) error {
		x.Status.Error = err.Error() // shown while retrying
		return nil
	})
	return err
}

func (c *Controller) uploadSystemBackup(ctx context.Context, sb api.SystemBackup) error {
	st, err := c.openBackupStore(ctx, api.DefaultBackupTarget)
	if err != nil {
		return fmt.Errorf("system backup %s: default target: %w", sb.Name, err)
	}
	var images []api.BackingImage
	if err := c.m.store.View(func(tx *Tx) (err error) {
		images, err = list(tx, api.KindBackingImage, func(bi api.BackingImage) bool { return bi.Status.State == api.BackingImageReady })
		return err
	}); err != nil {
		return err
	}
	for _, bi := range images {
		data, err := os.ReadFile(c.m.backingImagePath(bi.Name))
		if err != nil {
			return fmt.Errorf("system backup %s: read backing image %s: %w", sb.Name, bi.Name, err)
		}
		if err := st.PutSystemBackupImage(ctx, sb.Name, bi.Name, data); err != nil {
			return fmt.Errorf("system backup %s: %w", sb.Name, err)
		}
	}
	if err := c.setSystemBackupState(sb.Name, api.SystemBackupStateGenerating); err != nil {
		return err
	}
	bundle, err := c.generateBundle(sb.Name)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(bundle, "", "  ")
	if err != nil {
		return fmt.Errorf("system backup %s: encode bundle: %w", sb.Name, err)
	}
	if err := c.setSystemBackupState(sb.Name, api.SystemBackupStateUploading); err != nil {
		return err
	}
	if err := st.PutSystemBackupBundle(ctx, sb.Name, data); err != nil {
		return fmt.Errorf("system backup %s: %w", sb.Name, err)
	}
	var url string
	if err := c.m.store.View(func(tx *Tx) error {
		bt, _, err := get[api.BackupTarget](tx, api.KindBackupTarget, api.DefaultBackupTarget)
		url = strings.TrimSuffix(bt.Spec.URL, "/") + "/" + backupstore.SystemBackupBundleKey(sb.Name)
		return err
	}); err != nil {
		return err
	}
	c.log.Info("system backup ready", "system_backup", sb.Name, "volumes", len(bundle.Volumes), "backing_images", len(bundle.BackingImages), "bytes", len(data))
	return c.mutateSystemBackup(sb.Name, func(tx *Tx, x *api.SystemBackup) error {
		x.Status.State, x.Status.Error = api.SystemBackupStateReady, ""
		x.Status.CreatedAt, x.Status.URL = bundle.CreatedAt, url
		return nil
	})
}

func (c *Controller) setSystemBackupState(name, state string) error {
	return c.mutateSystemBackup(name, func(tx *Tx, x *api.SystemBackup) error {
		x.Status.State = state
		return nil
	})
}

// generateBundle reads what a system backup holds from the store in one
// transaction: every volume (spec and status as they stand now, which is
// why the wait before must have seen each lastBackup), the images, the
// targets (whose credentials never carry the secret) and the settings.
func (c *Controller) generateBundle(name string) (api.SystemBackupBundle, error) {
	b := api.SystemBackupBundle{Name: name, Version: Version, Settings: c.m.settings()}
	err := c.m.store.View(func(tx *Tx) (err error) {
		b.CreatedAt = tx.Now()
		if b.Volumes, err = list(tx, api.KindVolume, func(v api.Volume) bool { return v.Status.State != api.VolumeDeleting }); err != nil {
			return err
		}
		if b.BackingImages, err = list[api.BackingImage](tx, api.KindBackingImage, nil); err != nil {
			return err
		}
		if b.EngineImages, err = list[api.EngineImage](tx, api.KindEngineImage, nil); err != nil {
			return err
		}
		b.BackupTargets, err = list[api.BackupTarget](tx, api.KindBackupTarget, nil)
		return err
	})
	sort.Slice(b.Volumes, func(i, j int) bool { return b.Volumes[i].Name < b.Volumes[j].Name })
	for i := range b.BackupTargets {
		if cr := b.BackupTargets[i].Spec.Credential; cr != nil {
			cr.SecretKey = ""
		}
	}
	return b, err
}

// settings are the manager's settings as a system backup records them.
func (m *Manager) settings() map[string]string {
	return map[string]string{
		"nodeTimeout":             m.cfg.NodeTimeout.String(),
		"resyncInterval":          m.cfg.ResyncInterval.String(),
		"monitorInterval":         m.cfg.MonitorInterval.String(),
		"overProvisioningPercent": strconv.Itoa(m.cfg.OverProvisioningPercent),
		"restoreRateLimit":        strconv.FormatInt(m.cfg.RestoreRateLimit, 10),
	}
}

// readSystemBackupBundle reads a system backup's bundle back from the
// default target.
func (c *Controller) readSystemBackupBundle(ctx context.Context, name string) (api.SystemBackupBundle, error) {
	var b api.SystemBackupBundle
	st, err := c.openBackupStore(ctx, api.DefaultBackupTarget)
	if err != nil {
		return b, fmt.Errorf("system backup %s: default target: %w", name, err)
	}
	data, err := st.GetSystemBackupBundle(ctx, name)
	if err != nil {
		return b, err
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("system backup %s: bundle: %w: %v", name, backupstore.ErrCorrupt, err)
	}
	if b.Name != name {
		return b, fmt.Errorf("system backup %s: %w: the bundle names %q", name, backupstore.ErrCorrupt, b.Name)
	}
	return b, nil
}
