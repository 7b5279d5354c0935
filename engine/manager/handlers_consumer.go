package manager

import (
	"net/http"

	"github.com/faultline/faultline/engine/api"
)

// createConsumer records a pending consumer and its attachment ticket in
// one transaction; the consumer controller attaches the volume when it is
// detached and reports the consumer running once it serves on its node.
func (m *Manager) createConsumer(w http.ResponseWriter, r *http.Request) error {
	var req api.ConsumerCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	var out api.Consumer
	err := m.store.Update(func(tx *Tx) (err error) {
		out, err = putNewConsumer(tx, req, 0)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// putNewConsumer stores a new pending consumer and adds its ticket to its
// volume. Used by POST /v1/consumers and by a remount's replacement.
func putNewConsumer(tx *Tx, req api.ConsumerCreateRequest, generation int) (api.Consumer, error) {
	if _, ok, err := get[api.Consumer](tx, api.KindConsumer, req.Name); err != nil {
		return api.Consumer{}, err
	} else if ok {
		return api.Consumer{}, api.Conflict("consumer %q already exists", req.Name)
	}
	v, err := getNamed[api.Volume](tx, api.KindVolume, req.Volume, "volume")
	if err != nil {
		return api.Consumer{}, err
	}
	if _, err := getNamed[api.Node](tx, api.KindNode, req.Node, "node"); err != nil {
		return api.Consumer{}, err
	}
	switch {
	case v.Status.State == api.VolumeDeleting:
		return api.Consumer{}, api.Conflict("volume %q is being deleted", v.Name)
	case v.Status.RestoreRequired || v.Status.IsStandby:
		return api.Consumer{}, api.Conflict("volume %q is restoring from a backup: it can be used once the restore completed (a standby volume once activated)", v.Name)
	}
	c := api.Consumer{
		Name: req.Name,
		Spec: api.ConsumerSpec{Volume: req.Volume, Node: req.Node, Workload: req.Workload,
			Generation: generation, TerminationGracePeriod: req.TerminationGracePeriod},
		Status: api.ConsumerStatus{State: api.ConsumerPending, CreatedAt: tx.Now()},
	}
	addTicket(&v, api.AttachmentTicket{ID: api.ConsumerTicketID(c.Name), Type: api.TicketConsumer, Node: c.Spec.Node, Consumer: c.Name})
	if err := tx.Put(api.KindVolume, v.Name, v); err != nil {
		return api.Consumer{}, err
	}
	return c, tx.Put(api.KindConsumer, c.Name, c)
}

func (m *Manager) listConsumers(w http.ResponseWriter, r *http.Request) error {
	vol, err := volumeFilter(r)
	if err != nil {
		return err
	}
	return listAll(m, w, api.KindConsumer, func(c api.Consumer) bool { return vol == "" || c.Spec.Volume == vol })
}

func (m *Manager) getConsumer(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.Consumer](m, w, r, api.KindConsumer, false)
}

// deleteConsumer starts a consumer's deletion: graceful (its grace period,
// then grace 0) or, with ?force=true, at once with grace 0, as
// `kubectl delete pod --grace-period=0 --force`.
func (m *Manager) deleteConsumer(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindConsumer, false)
	if err != nil {
		return err
	}
	force := false
	switch r.URL.Query().Get("force") {
	case "", "false":
	case "true":
		force = true
	default:
		return api.Invalid("force=%q: want true or false", r.URL.Query().Get("force"))
	}
	var out api.Consumer
	err = m.store.Update(func(tx *Tx) error {
		c, ok, err := get[api.Consumer](tx, api.KindConsumer, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindConsumer, name)
		}
		startConsumerDeletion(&c, tx.Now(), force)
		out = c
		return tx.Put(api.KindConsumer, c.Name, c)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}
