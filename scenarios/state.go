package scenarios

import (
	"context"
	"encoding/json"
	"time"

	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// watchState follows the manager's change stream from its current head
// and feeds every volume, replica and engine change into tr, until ctx
// ends. A manager that is briefly unreachable (a fault) is retried.
func watchState(ctx context.Context, c *client.Client, tr *state.Tracker) {
	var since uint64
	for {
		head, err := c.Events(ctx, 0, 0, 1)
		if err == nil {
			since = head.Last
			break
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return
		}
	}
	for ctx.Err() == nil {
		l, err := c.Events(ctx, since, 10*time.Second, 1000)
		if err != nil {
			if !sleepCtx(ctx, 500*time.Millisecond) {
				return
			}
			continue
		}
		for _, ev := range l.Events {
			if s, ok := sampleOf(ev); ok {
				tr.Add(s)
			}
		}
		since = l.Next
	}
}

// sampleOf turns a change event into a state sample.
func sampleOf(ev api.Event) (state.Sample, bool) {
	s := state.Sample{Time: ev.Time, Name: ev.Name}
	switch ev.Kind {
	case api.KindVolume:
		var v api.Volume
		if json.Unmarshal(ev.Object, &v) != nil {
			return s, false
		}
		s.Kind, s.State, s.Robustness, s.Node = state.KindVolume, v.Status.State, v.Status.Robustness, v.Status.Node
	case api.KindReplica:
		var r api.Replica
		if json.Unmarshal(ev.Object, &r) != nil {
			return s, false
		}
		s.Kind, s.State, s.Node = state.KindReplica, r.Status.State, r.Spec.Node
		if r.Status.Mode != "" {
			s.Detail = map[string]string{"mode": r.Status.Mode}
		}
	case api.KindEngine:
		var e api.Engine
		if json.Unmarshal(ev.Object, &e) != nil {
			return s, false
		}
		s.Kind, s.State, s.Node = state.KindEngine, e.Status.State, e.Spec.Node
	case api.KindConsumer:
		var c api.Consumer
		if json.Unmarshal(ev.Object, &c) != nil {
			return s, false
		}
		s.Kind, s.State, s.Node = state.KindConsumer, c.Status.State, c.Spec.Node
		s.Detail = map[string]string{"volume": c.Spec.Volume}
	default:
		return s, false
	}
	if ev.Type == api.EventDeleted {
		s.State = "deleted"
	}
	return s, true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
