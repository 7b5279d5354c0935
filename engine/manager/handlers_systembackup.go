package manager

import (
	"errors"
	"net/http"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// createSystemBackup records a system backup; the controller carries it
// out. One runs at a time: a second one would attach the same detached
// volumes for maintenance.
func (m *Manager) createSystemBackup(w http.ResponseWriter, r *http.Request) error {
	var req api.SystemBackupCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := api.ValidateName(api.KindSystemBackup, req.Name); err != nil {
		return err
	}
	switch req.VolumeBackupPolicy {
	case "":
		req.VolumeBackupPolicy = api.VolumeBackupPolicyIfNotPresent
	case api.VolumeBackupPolicyIfNotPresent, api.VolumeBackupPolicyAlways, api.VolumeBackupPolicyDisabled:
	default:
		return api.Invalid("volumeBackupPolicy %q: want %s, %s or %s", req.VolumeBackupPolicy,
			api.VolumeBackupPolicyIfNotPresent, api.VolumeBackupPolicyAlways, api.VolumeBackupPolicyDisabled)
	}
	sb := api.SystemBackup{Name: req.Name, Spec: api.SystemBackupSpec{VolumeBackupPolicy: req.VolumeBackupPolicy}}
	err := m.store.Update(func(tx *Tx) error {
		if _, ok, err := get[api.SystemBackup](tx, api.KindSystemBackup, req.Name); err != nil {
			return err
		} else if ok {
			return api.Conflict("system backup %q already exists", req.Name)
		}
		running, err := list(tx, api.KindSystemBackup, func(x api.SystemBackup) bool {
			return !x.Spec.Deleting && x.Status.State != api.SystemBackupStateReady && x.Status.State != api.SystemBackupStateError
		})
		if err != nil {
			return err
		}
		if len(running) > 0 {
			return api.Conflict("system backup %q is in progress (%s); one runs at a time", running[0].Name, orNew(running[0].Status.State))
		}
		return tx.Put(api.KindSystemBackup, sb.Name, sb)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sb)
	return nil
}

// orNew names the empty state in messages.
func orNew(state string) string {
	if state == "" {
		return "new"
	}
	return state
}

func (m *Manager) listSystemBackups(w http.ResponseWriter, r *http.Request) error {
	return listAll[api.SystemBackup](m, w, api.KindSystemBackup, nil)
}

func (m *Manager) getSystemBackup(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.SystemBackup](m, w, r, api.KindSystemBackup, false)
}

// deleteSystemBackup marks a system backup deleting; the controller
// removes its bundle from the default target, then the record.
func (m *Manager) deleteSystemBackup(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindSystemBackup, false)
	if err != nil {
		return err
	}
	var sb api.SystemBackup
	err = m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.SystemBackup](tx, api.KindSystemBackup, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindSystemBackup, name)
		}
		x.Spec.Deleting = true
		sb = x
		return tx.Put(api.KindSystemBackup, name, x)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sb)
	return nil
}

// getSystemBackupBundle reads a Ready system backup's bundle back from the
// default target: what a system restore would restore.
func (m *Manager) getSystemBackupBundle(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindSystemBackup, false)
	if err != nil {
		return err
	}
	sb, ok, err := getOne2[api.SystemBackup](m.store, api.KindSystemBackup, name)
	if err != nil {
		return err
	}
	if !ok {
		return api.NotFound(api.KindSystemBackup, name)
	}
	if sb.Status.State != api.SystemBackupStateReady {
		return api.Conflict("system backup %q is %s: its bundle is written when it is Ready", name, orNew(sb.Status.State))
	}
	b, err := m.ctrl.readSystemBackupBundle(r.Context(), name)
	if errors.Is(err, backupstore.ErrNotFound) {
		return api.Errorf(http.StatusBadGateway, "system backup %q: the default target holds no bundle: %v", name, err)
	}
	if err != nil {
		return api.Errorf(http.StatusBadGateway, "%v", err)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// createSystemRestore records a restore of a Ready system backup; the
// controller carries it out. One runs at a time. Secret keys given for
// targets are kept apart from the object and dropped when it ends.
func (m *Manager) createSystemRestore(w http.ResponseWriter, r *http.Request) error {
	var req api.SystemRestoreCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := api.ValidateName(api.KindSystemRestore, req.Name); err != nil {
		return err
	}
	if err := api.ValidateName(api.KindSystemBackup, req.SystemBackup); err != nil {
		return err
	}
	for t, secret := range req.TargetSecrets {
		if err := api.ValidateName(api.KindBackupTarget, t); err != nil {
			return api.Invalid("targetSecrets: %v", err)
		}
		if secret == "" {
			return api.Invalid("targetSecrets: the secret key of backup target %q is empty", t)
		}
	}
	sr := api.SystemRestore{
		Name:   req.Name,
		Spec:   api.SystemRestoreSpec{SystemBackup: req.SystemBackup},
		Status: api.SystemRestoreStatus{State: api.SystemRestoreStatePending},
	}
	err := m.store.Update(func(tx *Tx) error {
		if _, ok, err := get[api.SystemRestore](tx, api.KindSystemRestore, req.Name); err != nil {
			return err
		} else if ok {
			return api.Conflict("system restore %q already exists", req.Name)
		}
		sb, ok, err := get[api.SystemBackup](tx, api.KindSystemBackup, req.SystemBackup)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindSystemBackup, req.SystemBackup)
		}
		if sb.Status.State != api.SystemBackupStateReady || sb.Spec.Deleting {
			return api.Conflict("system backup %q is %s: only a Ready one can be restored", sb.Name, orNew(sb.Status.State))
		}
		running, err := list(tx, api.KindSystemRestore, func(x api.SystemRestore) bool { return systemRestoreRunning(x) })
		if err != nil {
			return err
		}
		if len(running) > 0 {
			return api.Conflict("system restore %q is %s; one runs at a time", running[0].Name, running[0].Status.State)
		}
		for t, secret := range req.TargetSecrets {
			if err := tx.putSecret(restoreSecretKey(req.Name, t), secret); err != nil {
				return err
			}
		}
		return tx.Put(api.KindSystemRestore, sr.Name, sr)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sr)
	return nil
}

func systemRestoreRunning(sr api.SystemRestore) bool {
	return sr.Status.State != api.SystemRestoreStateCompleted && sr.Status.State != api.SystemRestoreStateError
}

func (m *Manager) listSystemRestores(w http.ResponseWriter, r *http.Request) error {
	return listAll[api.SystemRestore](m, w, api.KindSystemRestore, nil)
}

func (m *Manager) getSystemRestore(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.SystemRestore](m, w, r, api.KindSystemRestore, false)
}

// deleteSystemRestore forgets a finished system restore; what it restored
// stays.
func (m *Manager) deleteSystemRestore(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindSystemRestore, false)
	if err != nil {
		return err
	}
	err = m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.SystemRestore](tx, api.KindSystemRestore, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindSystemRestore, name)
		}
		if systemRestoreRunning(x) {
			return api.Conflict("system restore %q is %s: it can be deleted when it ends", name, x.Status.State)
		}
		_, err = tx.Delete(api.KindSystemRestore, name)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
