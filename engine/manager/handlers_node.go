package manager

import (
	"net/http"
	"time"

	"github.com/faultline/faultline/engine/api"
)

func (m *Manager) listNodes(w http.ResponseWriter, r *http.Request) error {
	return listAll[api.Node](m, w, api.KindNode, nil)
}

func (m *Manager) getNode(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.Node](m, w, r, api.KindNode, false)
}

// heartbeat registers a node or refreshes it. The heartbeat time is kept in
// memory on every call, but the stored node (and so the change stream) is
// written only when something else changed or the stored time is older
// than the node timeout; a node sending one beat a second does not add one
// event a second.
func (m *Manager) heartbeat(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindNode, false)
	if err != nil {
		return err
	}
	var req api.HeartbeatRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	now := time.Now().UTC()
	var node api.Node
	err = m.store.Update(func(tx *Tx) error {
		old, ok, err := get[api.Node](tx, api.KindNode, name)
		if err != nil {
			return err
		}
		n := api.Node{
			Name: name,
			Spec: api.NodeSpec{Address: req.Address, RPCAddress: req.RPCAddress, NBDAddress: req.NBDAddress},
			Status: api.NodeStatus{
				State:         api.NodeUp,
				LastHeartbeat: old.Status.LastHeartbeat,
				Disks:         req.Disks,
			},
		}
		if n.Status.Disks == nil {
			n.Status.Disks = []api.Disk{}
		}
		changed := !ok || old.Spec != n.Spec || old.Status.State != api.NodeUp ||
			disksChanged(old.Status.Disks, n.Status.Disks) ||
			now.Sub(old.Status.LastHeartbeat) >= m.cfg.NodeTimeout
		if !changed {
			node = old
			return nil
		}
		n.Status.LastHeartbeat = now
		node = n
		return tx.Put(api.KindNode, name, n)
	})
	if err != nil {
		return err
	}
	m.beats.beat(name, now)
	writeJSON(w, http.StatusOK, node)
	return nil
}

// disksChanged reports a change in a node's disks worth an event: a disk
// added, removed or re-identified, a new size, or free space that moved by
// more than 1/64 of the disk. Small free-space drift while a workload
// writes is picked up by the periodic refresh instead.
func disksChanged(old, cur []api.Disk) bool {
	if len(old) != len(cur) {
		return true
	}
	for i := range old {
		o, c := old[i], cur[i]
		if o.Name != c.Name || o.LvstoreUUID != c.LvstoreUUID || o.LvstoreName != c.LvstoreName || o.TotalBytes != c.TotalBytes {
			return true
		}
		if d := o.FreeBytes - c.FreeBytes; d > c.TotalBytes/64 || -d > c.TotalBytes/64 {
			return true
		}
	}
	return false
}

// deleteNode forgets a node that is down and holds no replicas or engines.
func (m *Manager) deleteNode(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindNode, false)
	if err != nil {
		return err
	}
	err = m.store.Update(func(tx *Tx) error {
		n, ok, err := get[api.Node](tx, api.KindNode, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindNode, name)
		}
		if n.Status.State == api.NodeUp {
			return api.Conflict("node %q is up; stop it first", name)
		}
		reps, err := list(tx, api.KindReplica, func(x api.Replica) bool { return x.Spec.Node == name })
		if err != nil {
			return err
		}
		if len(reps) > 0 {
			return api.Conflict("node %q still holds %d replicas (first: %s)", name, len(reps), reps[0].Name)
		}
		engs, err := list(tx, api.KindEngine, func(x api.Engine) bool { return x.Spec.Node == name })
		if err != nil {
			return err
		}
		if len(engs) > 0 {
			return api.Conflict("node %q still holds engine %s", name, engs[0].Name)
		}
		_, err = tx.Delete(api.KindNode, name)
		return err
	})
	if err != nil {
		return err
	}
	m.beats.forget(name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
