package manager

import (
	"context"
	"net/http"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// resolveFromBackup checks a create request's fromBackup against the
// manager's targets: the URL must name a known target (the request's
// backupTargetName, or the one with that URL), and a size left out is the
// backup's when the manager knows it.
func resolveFromBackup(tx *Tx, req *api.VolumeCreateRequest) error {
	targetURL, _, backup, err := api.ParseBackupURL(req.FromBackup)
	if err != nil {
		return api.Invalid("fromBackup: %v", err)
	}
	want, err := backupstore.ParseURL(targetURL)
	if err != nil {
		return api.Invalid("fromBackup: %v", err)
	}
	bts, err := list[api.BackupTarget](tx, api.KindBackupTarget, nil)
	if err != nil {
		return err
	}
	match := ""
	for _, bt := range bts {
		loc, err := backupstore.ParseURL(bt.Spec.URL)
		if err != nil || loc.String() != want.String() {
			continue
		}
		if req.BackupTargetName == "" || req.BackupTargetName == bt.Name {
			match = bt.Name
			break
		}
	}
	if match == "" {
		if req.BackupTargetName != "" {
			return api.Invalid("fromBackup %q is not on backup target %q", req.FromBackup, req.BackupTargetName)
		}
		return api.Invalid("fromBackup %q: no backup target has the URL %s; create one first", req.FromBackup, want)
	}
	req.BackupTargetName = match
	if req.Size == 0 {
		b, ok, err := get[api.Backup](tx, api.KindBackup, backup)
		if err != nil {
			return err
		}
		if !ok || b.Status.Size == 0 {
			return api.Invalid("size is required: backup %q is not known to the manager yet (sync backup target %q, or give the size)", backup, match)
		}
		req.Size = b.Status.Size
	}
	return api.ValidateSize(req.Size)
}

// activateWait bounds the sync with the target that activation starts with.
const activateWait = 30 * time.Second

// activateVolume turns a DR volume into a normal one, once it holds the
// newest backup of its source (spec "Seed 000", item 5). It first asks
// the backup volume to re-read the target, so that a backup taken a moment
// ago is not missed; then it requires one engine whose lastRestoredBackup
// equals the volume's lastBackup, no pending sync, and the backup volume's
// last backup equal to it too. Afterwards the volume is no longer standby,
// has its frontend, and detaches.
func (m *Manager) activateVolume(w http.ResponseWriter, r *http.Request) error {
	var req api.ActivateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Frontend == "" {
		req.Frontend = api.FrontendNBD
	}
	if req.Frontend != api.FrontendNBD {
		return api.Invalid("frontend %q is not supported: want %q", req.Frontend, api.FrontendNBD)
	}
	name, err := pathName(r, api.KindVolume, false)
	if err != nil {
		return err
	}
	var bvName string
	err = m.store.View(func(tx *Tx) error {
		v, ok, err := get[api.Volume](tx, api.KindVolume, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindVolume, name)
		}
		if !v.Status.IsStandby {
			return api.Invalid("volume %q is not a standby volume", name)
		}
		src, target := backupSourceOf(v)
		bvName = api.BackupVolumeName(target, src)
		return nil
	})
	if err != nil {
		return err
	}
	if asked, err := m.requestBackupVolumeSync(bvName); err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), activateWait)
		_, _, err = m.waitBackupVolumeSynced(ctx, bvName, asked)
		cancel()
		if err != nil {
			return err
		}
	}
	return m.updateVolume(w, r, http.StatusOK, func(tx *Tx, v *api.Volume) error {
		if !v.Status.IsStandby {
			return api.Invalid("volume %q is not a standby volume", name)
		}
		engs, err := list(tx, api.KindEngine, func(e api.Engine) bool { return e.Spec.Volume == name })
		if err != nil {
			return err
		}
		bv, ok, err := get[api.BackupVolume](tx, api.KindBackupVolume, bvName)
		if err != nil {
			return err
		}
		var why string
		switch {
		case len(engs) != 1:
			why = "it has no engine (it is not attached)"
		case !ok:
			why = "its backup volume " + bvName + " is unknown"
		case engs[0].Status.LastRestoredBackup != v.Status.LastBackup:
			why = "it holds " + quote(engs[0].Status.LastRestoredBackup) + " but the last backup is " + quote(v.Status.LastBackup)
		case bv.Spec.SyncRequestedAt.After(bv.Status.LastSyncedAt):
			why = "its backup volume has a sync pending"
		case bv.Status.LastBackupName != engs[0].Status.LastRestoredBackup:
			why = "the backup volume's last backup is " + quote(bv.Status.LastBackupName)
		}
		if why != "" {
			return api.Conflict("volume %q %s: %s", name, api.ActivateNotReadyError, why)
		}
		v.Spec.Standby = false
		v.Spec.Frontend = req.Frontend
		v.Spec.NodeID = ""
		v.Status.IsStandby = false
		v.Status.RestoreRequired = false
		setCondition(v, api.ConditionRestore, false, api.RestoreReasonCompleted, "activated with "+v.Status.LastBackup, tx.Now())
		setCondition(v, api.ConditionReady, true, "", "", tx.Now())
		if v.Status.State == api.VolumeAttached || v.Status.State == api.VolumeAttaching {
			v.Status.State = api.VolumeDetaching
		}
		return nil
	})
}

func quote(s string) string {
	if s == "" {
		return "nothing"
	}
	return `"` + s + `"`
}
