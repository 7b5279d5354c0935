package manager

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// newBackupName is "backup-<16 hex>", as Longhorn names backups.
func newBackupName() string {
	b := make([]byte, 8)
	rand.Read(b) // crypto/rand.Read never fails
	return "backup-" + hex.EncodeToString(b)
}

// backupSnapshotName names the snapshot a backup takes when it is given
// none: "bk-<8 hex of the backup's name>". Short, because every replica
// names its copy <replica>-snap-<snapshot> and an lvol name has 63 bytes.
func backupSnapshotName(backup string) string {
	sum := sha256.Sum256([]byte(backup))
	return "bk-" + hex.EncodeToString(sum[:4])
}

// createBackup records a backup request; the backup controller carries it
// out. Without a snapshot name a snapshot is taken first
// (backupSnapshotName).
func (m *Manager) createBackup(w http.ResponseWriter, r *http.Request) error {
	var req api.BackupCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = newBackupName()
	}
	if err := api.ValidateName(api.KindBackup, req.Name); err != nil {
		return err
	}
	if err := api.ValidateName(api.KindVolume, req.Volume); err != nil {
		return err
	}
	if req.SnapshotName == "" {
		req.SnapshotName = backupSnapshotName(req.Name)
	} else if err := api.ValidateName(api.KindSnapshot, req.SnapshotName); err != nil {
		return err
	}
	if req.Compression == "" {
		req.Compression = string(backupstore.CompressionLZ4)
	}
	if !backupstore.Compression(req.Compression).Valid() {
		return api.Invalid("compression %q: want none, lz4 or gzip", req.Compression)
	}
	var b api.Backup
	err := m.store.Update(func(tx *Tx) (err error) {
		b, err = putBackupRequest(tx, req)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

// putBackupRequest stores a backup request (name, snapshot name and
// compression filled in) and the snapshot it takes when that does not
// exist yet. Used by POST /v1/backups and system backups.
func putBackupRequest(tx *Tx, req api.BackupCreateRequest) (api.Backup, error) {
	v, ok, err := get[api.Volume](tx, api.KindVolume, req.Volume)
	if err != nil {
		return api.Backup{}, err
	}
	if !ok {
		return api.Backup{}, api.NotFound(api.KindVolume, req.Volume)
	}
	if v.Status.IsStandby || v.Status.RestoreRequired {
		return api.Backup{}, api.Invalid("volume %q is restoring from a backup (standby or restore in progress): it cannot be backed up", v.Name)
	}
	if _, ok, err := get[api.Backup](tx, api.KindBackup, req.Name); err != nil {
		return api.Backup{}, err
	} else if ok {
		return api.Backup{}, api.Conflict("backup %q already exists", req.Name)
	}
	snapName := api.SnapshotResourceName(v.Name, req.SnapshotName)
	_, snapExists, err := get[api.Snapshot](tx, api.KindSnapshot, snapName)
	if err != nil {
		return api.Backup{}, err
	}
	if v.Status.State != api.VolumeAttached {
		return api.Backup{}, api.Invalid("volume %q is %s; backups need an attached volume", v.Name, v.Status.State)
	}
	if !snapExists {
		snap := api.Snapshot{
			Name:   snapName,
			Spec:   api.SnapshotSpec{Volume: v.Name, SnapshotName: req.SnapshotName},
			Status: api.SnapshotStatus{State: api.SnapshotCreating},
		}
		if err := tx.Put(api.KindSnapshot, snap.Name, snap); err != nil {
			return api.Backup{}, err
		}
	}
	b := api.Backup{
		Name: req.Name,
		Spec: api.BackupSpec{
			Volume: v.Name, SnapshotName: req.SnapshotName, BackupTargetName: backupTargetOf(v),
			Labels: req.Labels, Compression: req.Compression,
		},
		Status: api.BackupStatus{State: api.BackupStateNew},
	}
	return b, tx.Put(api.KindBackup, b.Name, b)
}

func (m *Manager) listBackups(w http.ResponseWriter, r *http.Request) error {
	vol := r.URL.Query().Get("volume")
	return listAll(m, w, api.KindBackup, func(b api.Backup) bool { return vol == "" || b.Spec.Volume == vol })
}

func (m *Manager) getBackup(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.Backup](m, w, r, api.KindBackup, false)
}

// deleteBackup marks the backup deleting; the controller removes it from
// the target and then forgets it.
func (m *Manager) deleteBackup(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackup, false)
	if err != nil {
		return err
	}
	var b api.Backup
	err = m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.Backup](tx, api.KindBackup, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindBackup, name)
		}
		x.Spec.Deleting = true
		b = x
		return tx.Put(api.KindBackup, name, x)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, b)
	return nil
}

// backupVolumeSyncWait bounds how long a sync request waits for the
// controller to read the target.
const backupVolumeSyncWait = 30 * time.Second

func (m *Manager) listBackupVolumes(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("sync") == "true" {
		// Targets first: their sync finds volumes that have no backup
		// volume yet; then every backup volume re-reads its backups.
		if err := m.syncAllTargets(r.Context()); err != nil {
			return err
		}
		var names []string
		var asked time.Time
		err := m.store.Update(func(tx *Tx) error {
			bvs, err := list[api.BackupVolume](tx, api.KindBackupVolume, nil)
			asked = tx.Now()
			for _, bv := range bvs {
				bv.Spec.SyncRequestedAt = asked
				if err := tx.Put(api.KindBackupVolume, bv.Name, bv); err != nil {
					return err
				}
				names = append(names, bv.Name)
			}
			return err
		})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), backupVolumeSyncWait)
		defer cancel()
		for _, n := range names {
			if _, _, err := m.waitBackupVolumeSynced(ctx, n, asked); err != nil {
				return err
			}
		}
	}
	return listAll[api.BackupVolume](m, w, api.KindBackupVolume, nil)
}

func (m *Manager) getBackupVolume(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.BackupVolume](m, w, r, api.KindBackupVolume, false)
}

// syncBackupVolume asks the controller to re-read a backup volume from its
// target and answers once it did (504 if it did not in time).
func (m *Manager) syncBackupVolume(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackupVolume, false)
	if err != nil {
		return err
	}
	asked, err := m.requestBackupVolumeSync(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), backupVolumeSyncWait)
	defer cancel()
	bv, synced, err := m.waitBackupVolumeSynced(ctx, name, asked)
	if err != nil {
		return err
	}
	if !synced {
		msg := "backup volume %q did not sync within %s"
		if bv.Status.Message != "" {
			return api.Errorf(http.StatusGatewayTimeout, msg+": %s", name, backupVolumeSyncWait, bv.Status.Message)
		}
		return api.Errorf(http.StatusGatewayTimeout, msg, name, backupVolumeSyncWait)
	}
	writeJSON(w, http.StatusOK, bv)
	return nil
}

// requestBackupVolumeSync sets spec.syncRequestedAt and returns it.
func (m *Manager) requestBackupVolumeSync(name string) (time.Time, error) {
	var asked time.Time
	err := m.store.Update(func(tx *Tx) error {
		bv, ok, err := get[api.BackupVolume](tx, api.KindBackupVolume, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindBackupVolume, name)
		}
		asked = tx.Now()
		bv.Spec.SyncRequestedAt = asked
		return tx.Put(api.KindBackupVolume, name, bv)
	})
	return asked, err
}

// waitBackupVolumeSynced waits until the backup volume's last sync started
// at or after asked, or ctx is done (synced false, no error).
func (m *Manager) waitBackupVolumeSynced(ctx context.Context, name string, asked time.Time) (api.BackupVolume, bool, error) {
	return waitObject(ctx, m.store, api.KindBackupVolume, name, func(bv api.BackupVolume) bool {
		return !bv.Status.LastSyncedAt.Before(asked)
	})
}

// syncAllTargets asks every backup target for a check (which also finds
// the volumes it holds) and waits for the checks, at most syncWait.
func (m *Manager) syncAllTargets(ctx context.Context) error {
	var names []string
	var asked time.Time
	err := m.store.Update(func(tx *Tx) error {
		bts, err := list[api.BackupTarget](tx, api.KindBackupTarget, nil)
		asked = tx.Now()
		for _, bt := range bts {
			bt.Spec.SyncRequestedAt = asked
			if err := tx.Put(api.KindBackupTarget, bt.Name, bt); err != nil {
				return err
			}
			names = append(names, bt.Name)
		}
		return err
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, syncWait)
	defer cancel()
	for _, n := range names {
		if _, _, err := m.waitSynced(ctx, n, asked); err != nil {
			return err
		}
	}
	return nil
}
