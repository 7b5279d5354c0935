package manager

import (
	"errors"
	"net/http"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// Event page and wait bounds.
const (
	DefaultEventLimit = 1000
	MaxEventLimit     = 10000
	MaxEventWait      = 5 * time.Minute
)

// getEvents answers GET /v1/events?since=N&wait=30s&limit=L: the events with
// seq > N in order, at most L of them. When there are none and wait is set,
// it blocks until one is committed or wait expires (then it returns an
// empty page). next is the since to pass for the following page.
func (m *Manager) getEvents(w http.ResponseWriter, r *http.Request) error {
	since, err := queryUint(r, "since", 0)
	if err != nil {
		return err
	}
	limit, err := queryUint(r, "limit", DefaultEventLimit)
	if err != nil {
		return err
	}
	if limit == 0 || limit > MaxEventLimit {
		return api.Invalid("limit %d is out of range: want 1..%d", limit, MaxEventLimit)
	}
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		wait, err = time.ParseDuration(s)
		if err != nil || wait < 0 || wait > MaxEventWait {
			return api.Invalid("wait=%q is not a duration in 0..%s", s, MaxEventWait)
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		// Take the change channel before reading so a commit between the
		// read and the wait cannot be missed.
		changed := m.store.Changed()
		var evs []api.Event
		var last uint64
		err := m.store.View(func(tx *Tx) error {
			var err error
			evs, last, err = tx.Events(since, int(limit))
			return err
		})
		if errors.Is(err, errGone) {
			return api.Errorf(http.StatusGone, "%v", err)
		}
		if err != nil {
			return err
		}
		if since > last {
			return api.Invalid("since=%d is beyond the last event %d", since, last)
		}
		if len(evs) > 0 || wait == 0 {
			next := since
			if len(evs) > 0 {
				next = evs[len(evs)-1].Seq
			}
			writeJSON(w, http.StatusOK, api.EventList{Events: append([]api.Event{}, evs...), Next: next, Last: last})
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			wait = 0
		case <-r.Context().Done():
			return nil
		}
	}
}
