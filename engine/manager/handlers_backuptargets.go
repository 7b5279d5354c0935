package manager

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/api"
)

func (m *Manager) listBackupTargets(w http.ResponseWriter, r *http.Request) error {
	return listAll[api.BackupTarget](m, w, api.KindBackupTarget, nil)
}

// getBackupTarget answers with the stored object, which never holds the
// secret key (see redact).
func (m *Manager) getBackupTarget(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.BackupTarget](m, w, r, api.KindBackupTarget, false)
}

// redact splits a requested credential into what is stored in the object
// (no secret, HasSecret set) and the secret, which goes to bucketSecrets.
func redact(c *api.BackupTargetCredential, secret string) *api.BackupTargetCredential {
	if c == nil {
		return nil
	}
	x := *c
	x.SecretKey, x.HasSecret = "", secret != ""
	return &x
}

func (m *Manager) createBackupTarget(w http.ResponseWriter, r *http.Request) error {
	var req api.BackupTargetCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	req.Normalize()
	if err := req.Validate(); err != nil {
		return err
	}
	var bt api.BackupTarget
	err := m.store.Update(func(tx *Tx) (err error) {
		bt, err = putNewBackupTarget(tx, req)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, bt)
	return nil
}

// putNewBackupTarget stores a new target from a normalized, validated
// request, its secret apart, and asks for its first check. Used by POST
// /v1/backuptargets and system restore.
func putNewBackupTarget(tx *Tx, req api.BackupTargetCreateRequest) (api.BackupTarget, error) {
	if _, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, req.Name); err != nil {
		return api.BackupTarget{}, err
	} else if ok {
		return api.BackupTarget{}, api.Conflict("backup target %q already exists", req.Name)
	}
	var secret string
	if req.Credential != nil {
		secret = req.Credential.SecretKey
	}
	if err := tx.putSecret(req.Name, secret); err != nil {
		return api.BackupTarget{}, err
	}
	bt := api.BackupTarget{
		Name: req.Name,
		Spec: api.BackupTargetSpec{
			URL:             req.URL,
			PollInterval:    req.PollInterval,
			Credential:      redact(req.Credential, secret),
			SyncRequestedAt: tx.Now(),
		},
	}
	return bt, tx.Put(api.KindBackupTarget, bt.Name, bt)
}

// updateBackupTarget changes a target's URL, poll interval or credential
// and asks for a new availability check. A credential whose secretKey is
// empty keeps the stored secret; an empty credential removes it.
//
// F1 also forbids changing the URL while a standby (DR) volume uses the
// target: that is refused with 409 (api.BackupTargetStandbyError).
func (m *Manager) updateBackupTarget(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackupTarget, false)
	if err != nil {
		return err
	}
	var req api.BackupTargetUpdateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	var bt api.BackupTarget
	err = m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindBackupTarget, name)
		}
		secret, err := tx.secret(name)
		if err != nil {
			return err
		}
		if req.URL != "" && req.URL != x.Spec.URL {
			standby, err := list(tx, api.KindVolume, func(v api.Volume) bool { return v.Status.IsStandby && backupTargetOf(v) == name })
			if err != nil {
				return err
			}
			if len(standby) > 0 {
				return api.Conflict("%s: %s", api.BackupTargetStandbyError, volumeNames(standby))
			}
			x.Spec.URL = req.URL
		}
		if req.PollInterval != nil {
			x.Spec.PollInterval = *req.PollInterval
		}
		if c := req.Credential; c != nil {
			switch {
			case c.IsZero():
				secret, x.Spec.Credential = "", nil
			default:
				if c.SecretKey != "" {
					secret = c.SecretKey
				}
				x.Spec.Credential = redact(c, secret)
			}
		}
		if err := api.ValidateBackupTargetSpec(x.Spec); err != nil {
			return err
		}
		if err := tx.putSecret(name, secret); err != nil {
			return err
		}
		x.Spec.SyncRequestedAt = tx.Now()
		bt = x
		return tx.Put(api.KindBackupTarget, name, x)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bt)
	return nil
}

// deleteBackupTarget removes a target that no volume names. It deletes only
// the manager's object and its secret, never anything on the target: the
// backups there stay for whoever points a target at it again. Its Backup and
// BackupVolume objects go with it, as in Longhorn; re-adding the target
// finds them again.
func (m *Manager) deleteBackupTarget(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackupTarget, false)
	if err != nil {
		return err
	}
	if name == api.DefaultBackupTarget {
		return api.Conflict("backup target %q cannot be deleted: it always exists; update its URL instead", name)
	}
	err = m.store.Update(func(tx *Tx) error {
		vols, err := list(tx, api.KindVolume, func(v api.Volume) bool { return v.Spec.BackupTargetName == name })
		if err != nil {
			return err
		}
		if len(vols) > 0 {
			return api.Conflict("backup target %q is used by %s", name, volumeNames(vols))
		}
		ok, err := tx.Delete(api.KindBackupTarget, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindBackupTarget, name)
		}
		if err := tx.putSecret(name, ""); err != nil {
			return err
		}
		return deleteBackupObjects(tx, name)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// volumeNames lists volumes for a message, at most ten of them.
func volumeNames(vols []api.Volume) string {
	const max = 10
	names := make([]string, 0, min(len(vols), max))
	for _, v := range vols[:min(len(vols), max)] {
		names = append(names, v.Name)
	}
	s := "volume " + strings.Join(names, ", ")
	if len(vols) > 1 {
		s = "volumes " + strings.Join(names, ", ")
	}
	if len(vols) > max {
		s += ", ..."
	}
	return s
}

// syncWait bounds how long POST .../sync waits for the check it asked for.
const syncWait = backupTargetCheckTimeout + 5*time.Second

// syncBackupTarget asks the controller to check the target now and waits
// for the result: 200 with the fresh status, or 202 with the object as it
// stands if the check did not finish in time.
func (m *Manager) syncBackupTarget(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackupTarget, false)
	if err != nil {
		return err
	}
	var asked time.Time
	err = m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.BackupTarget](tx, api.KindBackupTarget, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindBackupTarget, name)
		}
		asked = tx.Now()
		x.Spec.SyncRequestedAt = asked
		return tx.Put(api.KindBackupTarget, name, x)
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), syncWait)
	defer cancel()
	bt, synced, err := m.waitSynced(ctx, name, asked)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !synced {
		status = http.StatusAccepted
	}
	writeJSON(w, status, bt)
	return nil
}

// waitSynced waits until the target's last check started at or after
// asked, or ctx is done (synced false, no error).
func (m *Manager) waitSynced(ctx context.Context, name string, asked time.Time) (api.BackupTarget, bool, error) {
	return waitObject(ctx, m.store, api.KindBackupTarget, name, func(bt api.BackupTarget) bool {
		return !bt.Status.LastSyncedAt.Before(asked)
	})
}

// waitObject waits until the named object satisfies done, re-reading it on
// every commit, or until ctx is done (ok false, no error). A missing object
// is a 404.
func waitObject[T any](ctx context.Context, st *Store, kind, name string, done func(T) bool) (obj T, ok bool, err error) {
	for {
		changed := st.Changed()
		err := st.View(func(tx *Tx) error {
			x, found, err := get[T](tx, kind, name)
			if err == nil && !found {
				err = api.NotFound(kind, name)
			}
			obj = x
			return err
		})
		if err != nil {
			return obj, false, err
		}
		if done(obj) {
			return obj, true, nil
		}
		select {
		case <-ctx.Done():
			return obj, false, nil
		case <-changed:
		}
	}
}

// deleteBackupObjects forgets the Backup and BackupVolume objects of a
// target (never the data on it).
func deleteBackupObjects(tx *Tx, target string) error {
	bs, err := list(tx, api.KindBackup, func(b api.Backup) bool { return b.Spec.BackupTargetName == target })
	if err != nil {
		return err
	}
	for _, b := range bs {
		if _, err := tx.Delete(api.KindBackup, b.Name); err != nil {
			return err
		}
	}
	bvs, err := list(tx, api.KindBackupVolume, func(bv api.BackupVolume) bool { return bv.Spec.BackupTargetName == target })
	if err != nil {
		return err
	}
	for _, bv := range bvs {
		if _, err := tx.Delete(api.KindBackupVolume, bv.Name); err != nil {
			return err
		}
	}
	return nil
}
