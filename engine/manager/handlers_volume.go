package manager

import (
	"net/http"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

func (m *Manager) createVolume(w http.ResponseWriter, r *http.Request) error {
	var req api.VolumeCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	req.Normalize()
	if err := req.Validate(); err != nil {
		return err
	}
	var vol api.Volume
	err := m.store.Update(func(tx *Tx) (err error) {
		vol, err = putNewVolume(tx, req)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, vol)
	return nil
}

// putNewVolume stores a new volume from a normalized, validated create
// request, after checking what it refers to (backing and engine images,
// the backup and its target). Used by POST /v1/volumes and system restore.
func putNewVolume(tx *Tx, req api.VolumeCreateRequest) (api.Volume, error) {
	if _, ok, err := get[api.Volume](tx, api.KindVolume, req.Name); err != nil {
		return api.Volume{}, err
	} else if ok {
		return api.Volume{}, api.Conflict("volume %q already exists", req.Name)
	}
	if req.BackingImage != "" {
		bi, err := getNamed[api.BackingImage](tx, api.KindBackingImage, req.BackingImage, "backing image")
		if err != nil {
			return api.Volume{}, err
		}
		if bi.Status.Size > req.Size {
			return api.Volume{}, api.Invalid("backing image %q is %d bytes, larger than the volume size %d", req.BackingImage, bi.Status.Size, req.Size)
		}
	}
	if req.EngineImage != "" {
		if _, err := getNamed[api.EngineImage](tx, api.KindEngineImage, req.EngineImage, "engine image"); err != nil {
			return api.Volume{}, err
		}
	}
	if req.FromBackup != "" {
		if err := resolveFromBackup(tx, &req); err != nil {
			return api.Volume{}, err
		}
	}
	if _, err := getNamed[api.BackupTarget](tx, api.KindBackupTarget, req.BackupTargetName, "backup target"); err != nil {
		return api.Volume{}, err
	}
	vol := api.Volume{
		Name: req.Name,
		Spec: api.VolumeSpec{
			Size:             req.Size,
			NumberOfReplicas: req.NumberOfReplicas,
			BackingImage:     req.BackingImage,
			EngineImage:      req.EngineImage,
			Frontend:         req.Frontend,
			BackupTargetName: req.BackupTargetName,
			FromBackup:       req.FromBackup,
			Standby:          req.Standby,
		},
		Status: api.VolumeStatus{
			State:           api.VolumeCreating,
			Robustness:      api.RobustnessUnknown,
			CurrentImage:    req.EngineImage,
			IsStandby:       req.Standby,
			RestoreRequired: req.FromBackup != "",
		},
	}
	return vol, tx.Put(api.KindVolume, vol.Name, vol)
}

func (m *Manager) listVolumes(w http.ResponseWriter, r *http.Request) error {
	return listAll[api.Volume](m, w, api.KindVolume, nil)
}

func (m *Manager) getVolume(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.Volume](m, w, r, api.KindVolume, false)
}

// getNamed reads the object of kind that a request body names (as what, for
// the message). A missing one is a mistake in the request (400), unlike a
// missing volume in the path (404).
func getNamed[T any](tx *Tx, kind, name, what string) (T, error) {
	obj, ok, err := get[T](tx, kind, name)
	if err == nil && !ok {
		err = api.Invalid("%s %q does not exist", what, name)
	}
	return obj, err
}

// updateVolume loads the named volume, lets fn change it (or refuse with an
// error) and stores it, all in one transaction; it answers with the result.
func (m *Manager) updateVolume(w http.ResponseWriter, r *http.Request, status int, fn func(tx *Tx, v *api.Volume) error) error {
	name, err := pathName(r, api.KindVolume, false)
	if err != nil {
		return err
	}
	var vol api.Volume
	err = m.store.Update(func(tx *Tx) error {
		v, ok, err := get[api.Volume](tx, api.KindVolume, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindVolume, name)
		}
		if err := fn(tx, &v); err != nil {
			return err
		}
		vol = v
		return tx.Put(api.KindVolume, v.Name, v)
	})
	if err != nil {
		return err
	}
	writeJSON(w, status, vol)
	return nil
}

// deleteVolume marks the volume deleting; the volume controller detaches
// it, deletes its replicas and engine, and finally removes it. That cuts a
// client of an attached volume off at once, so a volume that is attached
// (attachedBy) is deleted only with ?force=true.
func (m *Manager) deleteVolume(w http.ResponseWriter, r *http.Request) error {
	force, err := queryBool(r, "force")
	if err != nil {
		return err
	}
	return m.updateVolume(w, r, http.StatusAccepted, func(tx *Tx, v *api.Volume) error {
		if by := attachedBy(v); len(by) > 0 && !force && v.Status.State != api.VolumeDeleting {
			return api.Conflict("volume %q is attached (%s): deleting it cuts its client off at once; detach it first (delete its consumers), or delete it anyway with DELETE /v1/volumes/%s?force=true (refengine volume delete --force)", v.Name, strings.Join(by, "; "), v.Name)
		}
		v.Spec.NodeID = ""
		v.Status.State = api.VolumeDeleting
		return nil
	})
}

func (m *Manager) attachVolume(w http.ResponseWriter, r *http.Request) error {
	var req api.AttachRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := api.ValidateName(api.KindNode, req.Node); err != nil {
		return err
	}
	return m.updateVolume(w, r, http.StatusAccepted, func(tx *Tx, v *api.Volume) error {
		if v.Status.RestoreRequired || v.Status.IsStandby {
			return api.Conflict("volume %q is restoring from a backup: the system attaches it until the restore completes (a standby volume until it is activated)", v.Name)
		}
		if v.Spec.DisableFrontend {
			return api.Conflict("volume %q is attached to node %q without a frontend by a system backup; it is detached again when its backup is done", v.Name, v.Spec.NodeID)
		}
		node, err := getNamed[api.Node](tx, api.KindNode, req.Node, "node")
		if err != nil {
			return err
		}
		if node.Status.State != api.NodeUp {
			return api.Conflict("node %q is %s", req.Node, node.Status.State)
		}
		switch {
		case v.Spec.NodeID == req.Node:
			addTicket(v, api.AttachmentTicket{ID: api.TicketAPIID, Type: api.TicketAPI, Node: req.Node})
			return nil // already attached or attaching there: idempotent
		case v.Spec.NodeID != "":
			return api.Conflict("volume %q is attached to node %q; detach it first", v.Name, v.Spec.NodeID)
		case v.Status.State != api.VolumeDetached:
			return api.Conflict("volume %q is %s; it can be attached when detached", v.Name, v.Status.State)
		}
		addTicket(v, api.AttachmentTicket{ID: api.TicketAPIID, Type: api.TicketAPI, Node: req.Node})
		v.Spec.NodeID = req.Node
		v.Status.State = api.VolumeAttaching
		return nil
	})
}

func (m *Manager) detachVolume(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength != 0 {
		var empty struct{}
		if err := decodeBody(w, r, &empty); err != nil {
			return err
		}
	}
	return m.updateVolume(w, r, http.StatusAccepted, func(tx *Tx, v *api.Volume) error {
		if v.Status.State == api.VolumeDeleting || v.Status.State == api.VolumeCreating {
			return api.Conflict("volume %q is %s", v.Name, v.Status.State)
		}
		if ids := consumerTickets(v); len(ids) > 0 {
			return api.Conflict("volume %q is in use by consumers (tickets %s): delete them, and it detaches when the last one is gone", v.Name, strings.Join(ids, ", "))
		}
		delete(v.Spec.AttachmentTickets, api.TicketAPIID)
		if v.Spec.NodeID == "" {
			return nil
		}
		v.Spec.NodeID, v.Spec.DisableFrontend = "", false
		if v.Status.State == api.VolumeAttached || v.Status.State == api.VolumeAttaching {
			v.Status.State = api.VolumeDetaching
		}
		return nil
	})
}

// snapshotVolume records a snapshot request; the controller takes it through
// the engine on every replica and marks it ready or error.
func (m *Manager) snapshotVolume(w http.ResponseWriter, r *http.Request) error {
	var req api.SnapshotRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := api.ValidateName(api.KindSnapshot, req.Name); err != nil {
		return err
	}
	name, err := pathName(r, api.KindVolume, false)
	if err != nil {
		return err
	}
	var snap api.Snapshot
	err = m.store.Update(func(tx *Tx) error {
		v, ok, err := get[api.Volume](tx, api.KindVolume, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindVolume, name)
		}
		if v.Status.IsStandby || v.Status.RestoreRequired {
			return api.Invalid("volume %q is restoring from a backup (standby or restore in progress): snapshots are not allowed", v.Name)
		}
		if v.Status.State != api.VolumeAttached {
			return api.Conflict("volume %q is %s; snapshots need an attached volume", v.Name, v.Status.State)
		}
		snap = api.Snapshot{
			Name:   api.SnapshotResourceName(v.Name, req.Name),
			Spec:   api.SnapshotSpec{Volume: v.Name, SnapshotName: req.Name},
			Status: api.SnapshotStatus{State: api.SnapshotCreating},
		}
		if _, ok, err := get[api.Snapshot](tx, api.KindSnapshot, snap.Name); err != nil {
			return err
		} else if ok {
			return api.Conflict("snapshot %q of volume %q already exists", req.Name, v.Name)
		}
		return tx.Put(api.KindSnapshot, snap.Name, snap)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, snap)
	return nil
}

// upgradeVolume changes the volume's engine image. A detached volume takes
// it at once; an attached one only when healthy, live, by the controller.
func (m *Manager) upgradeVolume(w http.ResponseWriter, r *http.Request) error {
	var req api.UpgradeRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := api.ValidateName(api.KindEngineImage, req.EngineImage); err != nil {
		return err
	}
	return m.updateVolume(w, r, http.StatusAccepted, func(tx *Tx, v *api.Volume) error {
		ei, err := getNamed[api.EngineImage](tx, api.KindEngineImage, req.EngineImage, "engine image")
		if err != nil {
			return err
		}
		if ei.Status.State != api.EngineImageReady {
			return api.Conflict("engine image %q is %s", ei.Name, ei.Status.State)
		}
		switch v.Status.State {
		case api.VolumeDetached:
			v.Spec.EngineImage = req.EngineImage
			v.Status.CurrentImage = req.EngineImage
			return nil
		case api.VolumeAttached:
			if v.Status.Robustness != api.RobustnessHealthy {
				return api.Conflict("volume %q is %s; live upgrade needs a healthy volume", v.Name, v.Status.Robustness)
			}
			v.Spec.EngineImage = req.EngineImage
			return nil
		}
		return api.Conflict("volume %q is %s; upgrade needs it attached (live) or detached (offline)", v.Name, v.Status.State)
	})
}
