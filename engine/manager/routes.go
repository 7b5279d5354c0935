package manager

import (
	"net/http"

	"github.com/faultline/faultline/engine/api"
)

// Handler returns the REST API. docs/api.md describes every route.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) { mux.Handle(pattern, m.wrap(pattern, fn)) }

	h("GET /v1/version", m.getVersion)

	h("POST /v1/volumes", m.createVolume)
	h("GET /v1/volumes", m.listVolumes)
	h("GET /v1/volumes/{name}", m.getVolume)
	h("DELETE /v1/volumes/{name}", m.deleteVolume)
	h("POST /v1/volumes/{name}/attach", m.attachVolume)
	h("POST /v1/volumes/{name}/detach", m.detachVolume)
	h("POST /v1/volumes/{name}/snapshot", m.snapshotVolume)
	h("POST /v1/volumes/{name}/upgrade", m.upgradeVolume)
	h("POST /v1/volumes/{name}/activate", m.activateVolume)

	h("GET /v1/replicas", m.listReplicas)
	h("GET /v1/replicas/{name}", m.getReplica)
	h("DELETE /v1/replicas/{name}", m.deleteReplica)
	h("GET /v1/engines", m.listEngines)
	h("GET /v1/engines/{name}", m.getEngine)
	h("GET /v1/snapshots", m.listSnapshots)
	h("GET /v1/snapshots/{name}", m.getSnapshot)

	h("GET /v1/nodes", m.listNodes)
	h("GET /v1/nodes/{name}", m.getNode)
	h("PUT /v1/nodes/{name}/heartbeat", m.heartbeat)
	h("DELETE /v1/nodes/{name}", m.deleteNode)

	h("POST /v1/backingimages", m.createBackingImage)
	h("GET /v1/backingimages", m.listBackingImages)
	h("GET /v1/backingimages/{name}", m.getBackingImage)
	h("PUT /v1/backingimages/{name}/upload", m.uploadBackingImage)
	h("GET /v1/backingimages/{name}/download", m.downloadBackingImage)
	h("DELETE /v1/backingimages/{name}", m.deleteBackingImage)

	h("POST /v1/engineimages", m.createEngineImage)
	h("GET /v1/engineimages", m.listEngineImages)
	h("GET /v1/engineimages/{name}", m.getEngineImage)
	h("DELETE /v1/engineimages/{name}", m.deleteEngineImage)

	h("POST /v1/backuptargets", m.createBackupTarget)
	h("GET /v1/backuptargets", m.listBackupTargets)
	h("GET /v1/backuptargets/{name}", m.getBackupTarget)
	h("PUT /v1/backuptargets/{name}", m.updateBackupTarget)
	h("DELETE /v1/backuptargets/{name}", m.deleteBackupTarget)
	h("POST /v1/backuptargets/{name}/sync", m.syncBackupTarget)

	h("POST /v1/backups", m.createBackup)
	h("GET /v1/backups", m.listBackups)
	h("GET /v1/backups/{name}", m.getBackup)
	h("DELETE /v1/backups/{name}", m.deleteBackup)
	h("GET /v1/backupvolumes", m.listBackupVolumes)
	h("GET /v1/backupvolumes/{name}", m.getBackupVolume)
	h("POST /v1/backupvolumes/{name}/sync", m.syncBackupVolume)

	h("POST /v1/systembackups", m.createSystemBackup)
	h("GET /v1/systembackups", m.listSystemBackups)
	h("GET /v1/systembackups/{name}", m.getSystemBackup)
	h("DELETE /v1/systembackups/{name}", m.deleteSystemBackup)
	h("GET /v1/systembackups/{name}/bundle", m.getSystemBackupBundle)
	h("POST /v1/systemrestores", m.createSystemRestore)
	h("GET /v1/systemrestores", m.listSystemRestores)
	h("GET /v1/systemrestores/{name}", m.getSystemRestore)
	h("DELETE /v1/systemrestores/{name}", m.deleteSystemRestore)

	h("POST /v1/consumers", m.createConsumer)
	h("GET /v1/consumers", m.listConsumers)
	h("GET /v1/consumers/{name}", m.getConsumer)
	h("DELETE /v1/consumers/{name}", m.deleteConsumer)

	h("GET /v1/events", m.getEvents)
	return logRequests(m.log, jsonMux(mux))
}

func (m *Manager) getVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, api.Version{Version: Version, APIVersion: api.APIVersion})
	return nil
}

// getOne answers GET of a single object of a kind.
func getOne[T any](m *Manager, w http.ResponseWriter, r *http.Request, kind string, ref bool) error {
	name, err := pathName(r, kind, ref)
	if err != nil {
		return err
	}
	var obj T
	err = m.store.View(func(tx *Tx) error {
		o, ok, err := get[T](tx, kind, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(kind, name)
		}
		obj = o
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

// listAll answers GET of a kind's collection, filtered by keep.
func listAll[T any](m *Manager, w http.ResponseWriter, kind string, keep func(T) bool) error {
	var objs []T
	err := m.store.View(func(tx *Tx) error {
		var err error
		objs, err = list[T](tx, kind, keep)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, objs)
	return nil
}
