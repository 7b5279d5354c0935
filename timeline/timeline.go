// Package timeline records what happened during a scenario run, in order:
// faults injected and healed, volume/replica/engine states, workload
// operations, steps and checker verdicts. Reports draw it; checkers read it.
package timeline

import (
	"sort"
	"sync"
	"time"
)

// Kind says which lane family an event belongs to.
type Kind string

const (
	KindFault    Kind = "fault"    // a fault window: Start..End
	KindState    Kind = "state"    // a sampled state of a resource (Lane = resource)
	KindWorkload Kind = "workload" // a workload operation or batch of them
	KindStep     Kind = "step"     // a scenario step (By)
	KindChecker  Kind = "checker"  // a checker verdict
	KindLog      Kind = "log"      // a notable log line
)

// Event is one entry on the timeline. Point events have a zero End.
type Event struct {
	Time   time.Time         `json:"time"`
	End    time.Time         `json:"end,omitzero"`
	Kind   Kind              `json:"kind"`
	Lane   string            `json:"lane"`
	Name   string            `json:"name"`
	Detail map[string]string `json:"detail,omitempty"`
}

// Recorder collects events from many goroutines.
type Recorder struct {
	mu     sync.Mutex
	events []Event
	now    func() time.Time
}

// NewRecorder returns an empty recorder that stamps events with time.Now.
func NewRecorder() *Recorder { return &Recorder{now: time.Now} }

// Add appends e, stamping its Time when it is zero.
func (r *Recorder) Add(e Event) {
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Begin records the start of a window event and returns a function that
// closes it; the event is appended when the window closes, so an unclosed
// window (a fault never healed) still appears, open-ended, via Open.
func (r *Recorder) Begin(kind Kind, lane, name string, detail map[string]string) (end func()) {
	e := Event{Time: r.now(), Kind: kind, Lane: lane, Name: name, Detail: detail}
	var once sync.Once
	return func() {
		once.Do(func() {
			e.End = r.now()
			r.Add(e)
		})
	}
}

// Events returns a copy of the events sorted by time (stable for ties).
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	out := append([]Event(nil), r.events...)
	r.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
