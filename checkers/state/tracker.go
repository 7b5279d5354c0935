// Package state follows the states of volumes, replicas and engines over a
// run: a Tracker collects samples onto the timeline, WaitFor decides
// whether a resource converged to an expected state by a deadline (showing
// expected vs actual as a go-cmp diff), and CrashLoop flags resources that
// flap between states.
package state

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/faultline/faultline/timeline"
)

// Kind is the kind of resource a sample describes.
type Kind string

const (
	KindVolume  Kind = "volume"
	KindReplica Kind = "replica"
	KindEngine  Kind = "engine"
	// KindConsumer is a workload instance using a volume (a pod).
	KindConsumer Kind = "consumer"
)

// Sample is one observed state of one resource.
type Sample struct {
	Time       time.Time         `json:"time"`
	Kind       Kind              `json:"kind"`
	Name       string            `json:"name"`
	State      string            `json:"state"`
	Robustness string            `json:"robustness,omitempty"`
	Node       string            `json:"node,omitempty"`
	Detail     map[string]string `json:"detail,omitempty"`
}

// Key identifies the resource: "kind/name".
func (s Sample) Key() string { return string(s.Kind) + "/" + s.Name }

// Tracker collects samples from any number of goroutines. Every sample is
// kept; the timeline receives one KindState event per change of state,
// robustness or node, so a steady resource polled often does not flood it.
type Tracker struct {
	rec *timeline.Recorder

	mu      sync.Mutex
	samples []Sample
	last    map[string]Sample
}

// NewTracker returns a tracker that writes changes to rec (which may be nil).
func NewTracker(rec *timeline.Recorder) *Tracker {
	return &Tracker{rec: rec, last: map[string]Sample{}}
}

// Add records s, stamping its Time when it is zero.
func (t *Tracker) Add(s Sample) {
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	s.Detail = maps.Clone(s.Detail)
	t.mu.Lock()
	prev, seen := t.last[s.Key()]
	t.last[s.Key()] = s
	t.samples = append(t.samples, s)
	t.mu.Unlock()
	if t.rec == nil || (seen && prev.State == s.State && prev.Robustness == s.Robustness && prev.Node == s.Node) {
		return
	}
	detail := maps.Clone(s.Detail)
	if detail == nil {
		detail = map[string]string{}
	}
	detail["state"] = s.State
	if s.Robustness != "" {
		detail["robustness"] = s.Robustness
	}
	if s.Node != "" {
		detail["node"] = s.Node
	}
	name := s.State
	if s.Robustness != "" {
		name += "/" + s.Robustness
	}
	t.rec.Add(timeline.Event{Time: s.Time, Kind: timeline.KindState, Lane: s.Key(), Name: name, Detail: detail})
}

// Run adds every sample from src until src is closed (it returns nil) or
// ctx ends (it returns ctx.Err()). The harness feeds src from the
// manager's change stream.
func (t *Tracker) Run(ctx context.Context, src <-chan Sample) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s, ok := <-src:
			if !ok {
				return nil
			}
			t.Add(s)
		}
	}
}

// Poll calls list every interval until ctx ends and adds what it returns,
// for sources that can only be listed. Errors are logged and polling goes
// on: a manager that is down for a while is part of many scenarios.
func (t *Tracker) Poll(ctx context.Context, interval time.Duration, list func(context.Context) ([]Sample, error)) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		samples, err := list(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Debug("state poll failed", "err", err)
		}
		for _, s := range samples {
			t.Add(s)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// Samples returns a copy of every sample in arrival order.
func (t *Tracker) Samples() []Sample {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Sample(nil), t.samples...)
}

// Latest returns the last sample of a resource.
func (t *Tracker) Latest(kind Kind, name string) (Sample, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.last[Sample{Kind: kind, Name: name}.Key()]
	return s, ok
}

// String summarises the tracker for logs.
func (t *Tracker) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("%d samples of %d resources", len(t.samples), len(t.last))
}
