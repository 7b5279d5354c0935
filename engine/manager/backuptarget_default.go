package manager

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/faultline/faultline/engine/api"
)

// defaultBackupstoreDir is the directory under DataDir the default target
// points at when Config.BackupTargetURL is empty.
const defaultBackupstoreDir = "backupstore"

// ensureDefaultBackupTarget creates the "default" backup target when it is
// missing, so that every volume has a target to name. An existing one is
// kept as it is, even if Config.BackupTargetURL differs: after the first
// start the API owns it.
func (m *Manager) ensureDefaultBackupTarget() error {
	url := m.cfg.BackupTargetURL
	if url == "" {
		dir := filepath.Join(m.cfg.DataDir, defaultBackupstoreDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create default backup store: %w", err)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("default backup store: %w", err)
		}
		url = "file://" + filepath.ToSlash(abs)
	}
	spec := api.BackupTargetSpec{URL: url, PollInterval: api.DefaultBackupTargetPollInterval}
	if err := api.ValidateBackupTargetSpec(spec); err != nil {
		return fmt.Errorf("backup target URL %q: %w", url, err)
	}
	return m.store.Update(func(tx *Tx) error {
		bt, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, api.DefaultBackupTarget)
		if err != nil {
			return err
		}
		if ok {
			if m.cfg.BackupTargetURL != "" && bt.Spec.URL != m.cfg.BackupTargetURL {
				m.log.Info("default backup target exists: keeping its URL, update it through the API",
					"url", bt.Spec.URL, "flag", m.cfg.BackupTargetURL)
			}
			return nil
		}
		spec.SyncRequestedAt = tx.Now()
		return tx.Put(api.KindBackupTarget, api.DefaultBackupTarget, api.BackupTarget{Name: api.DefaultBackupTarget, Spec: spec})
	})
}
