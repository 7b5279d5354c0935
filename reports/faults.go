package reports

import (
	"time"

	"github.com/faultline/faultline/timeline"
)

// Fault is one fault window taken from a scenario's timeline.
type Fault struct {
	Name   string            `json:"name"`
	Target string            `json:"target,omitempty"`
	Start  time.Time         `json:"start"`
	End    time.Time         `json:"end,omitzero"`
	Healed bool              `json:"healed"`
	Detail map[string]string `json:"detail,omitempty"`
}

// FaultsOf returns the fault windows of events in time order. A fault event
// without an End was never healed (or the heal was not recorded), and the
// report says so rather than inventing an end.
func FaultsOf(events []timeline.Event) []Fault {
	var out []Fault
	for _, e := range events {
		if e.Kind != timeline.KindFault || e.Time.IsZero() {
			continue
		}
		out = append(out, Fault{
			Name:   e.Name,
			Target: faultTarget(e),
			Start:  e.Time,
			End:    e.End,
			Healed: !e.End.IsZero(),
			Detail: e.Detail,
		})
	}
	return out
}

// faultTarget names what a fault hit: its lane when that is not just the
// fault's name again, else the first target-like parameter.
func faultTarget(e timeline.Event) string {
	if e.Lane != "" && e.Lane != e.Name {
		return e.Lane
	}
	for _, k := range []string{"target", "node", "volume", "replica", "engine", "instance-manager"} {
		if v := e.Detail[k]; v != "" {
			return v
		}
	}
	return ""
}
