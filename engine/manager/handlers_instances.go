package manager

import (
	"net/http"

	"github.com/faultline/faultline/engine/api"
)

// volumeFilter reads the optional ?volume= query parameter.
func volumeFilter(r *http.Request) (string, error) {
	v := r.URL.Query().Get("volume")
	if v == "" {
		return "", nil
	}
	return v, api.ValidateName(api.KindVolume, v)
}

func (m *Manager) listReplicas(w http.ResponseWriter, r *http.Request) error {
	vol, err := volumeFilter(r)
	if err != nil {
		return err
	}
	return listAll(m, w, api.KindReplica, func(x api.Replica) bool { return vol == "" || x.Spec.Volume == vol })
}

func (m *Manager) getReplica(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.Replica](m, w, r, api.KindReplica, true)
}

// deleteReplica marks a replica for deletion; the volume controller takes it
// out of the engine, deletes it on its node (data included) and, for an
// attached volume, schedules a replacement.
func (m *Manager) deleteReplica(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindReplica, true)
	if err != nil {
		return err
	}
	var rep api.Replica
	err = m.store.Update(func(tx *Tx) error {
		x, ok, err := get[api.Replica](tx, api.KindReplica, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindReplica, name)
		}
		x.Spec.Deleting = true
		rep = x
		return tx.Put(api.KindReplica, name, x)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, rep)
	return nil
}

func (m *Manager) listEngines(w http.ResponseWriter, r *http.Request) error {
	vol, err := volumeFilter(r)
	if err != nil {
		return err
	}
	return listAll(m, w, api.KindEngine, func(x api.Engine) bool { return vol == "" || x.Spec.Volume == vol })
}

func (m *Manager) getEngine(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.Engine](m, w, r, api.KindEngine, true)
}

func (m *Manager) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	vol, err := volumeFilter(r)
	if err != nil {
		return err
	}
	return listAll(m, w, api.KindSnapshot, func(x api.Snapshot) bool { return vol == "" || x.Spec.Volume == vol })
}

func (m *Manager) getSnapshot(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.Snapshot](m, w, r, api.KindSnapshot, true)
}
