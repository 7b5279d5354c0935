package state

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
)

// maxTransitionEvidence bounds the transitions listed in a verdict.
const maxTransitionEvidence = 50

// Transition is one change of a resource's state.
type Transition struct {
	Key      string    `json:"key"`
	Time     time.Time `json:"time"`
	From, To string
}

// Transitions returns each resource's state changes in time order, keyed
// by Sample.Key. Only State counts: robustness moves on its own during a
// rebuild without anything crashing.
func Transitions(samples []Sample) map[string][]Transition {
	sorted := slices.Clone(samples)
	slices.SortStableFunc(sorted, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	last := map[string]string{}
	out := map[string][]Transition{}
	for _, s := range sorted {
		k := s.Key()
		prev, seen := last[k]
		last[k] = s.State
		if seen && prev != s.State {
			out[k] = append(out[k], Transition{Key: k, Time: s.Time, From: prev, To: s.State})
		}
	}
	return out
}

// CrashLoop fails when any resource changed state more than maxTransitions
// times within some window of the given length (attached↔detaching,
// replica running↔error...). The evidence names each flapping resource and
// lists the transitions of its busiest window with their times.
func CrashLoop(samples []Sample, window time.Duration, maxTransitions int) checkers.Verdict {
	const name = "state-crashloop"
	byKey := Transitions(samples)
	keys := slices.Sorted(maps.Keys(byKey))
	var ev []checkers.Evidence
	var flapping []string
	busiest := 0
	for _, k := range keys {
		ts := byKey[k]
		lo, hi := busiestWindow(ts, window)
		n := hi - lo
		busiest = max(busiest, n)
		if n <= maxTransitions {
			continue
		}
		flapping = append(flapping, k)
		ev = append(ev, checkers.Evidence{What: "flapping", Expected: fmt.Sprintf("at most %d transitions in %v", maxTransitions, window),
			Actual: fmt.Sprintf("%d transitions in %v", n, ts[hi-1].Time.Sub(ts[lo].Time)), Detail: k})
		for _, tr := range ts[lo:hi] {
			if len(ev) >= maxTransitionEvidence {
				break
			}
			ev = append(ev, checkers.Evidence{What: "transition", Detail: fmt.Sprintf("%s at %s: %s → %s", k, tr.Time.Format(time.RFC3339Nano), tr.From, tr.To)})
		}
	}
	if len(flapping) == 0 {
		return checkers.Verdict{Checker: name, Outcome: checkers.Pass, At: time.Now(),
			Summary: fmt.Sprintf("%d resources, at most %d transitions in any %v window (allowed %d)", len(resources(samples)), busiest, window, maxTransitions)}
	}
	return checkers.Verdict{Checker: name, Outcome: checkers.Fail, At: time.Now(), Evidence: ev,
		Summary: fmt.Sprintf("crash loop: %s changed state more than %d times within %v", strings.Join(flapping, ", "), maxTransitions, window)}
}

// CrashLoop runs the crash-loop check over the tracker's samples and
// records the verdict on its timeline.
func (t *Tracker) CrashLoop(window time.Duration, maxTransitions int) checkers.Verdict {
	return checkers.Record(t.rec, CrashLoop(t.Samples(), window, maxTransitions))
}

// busiestWindow returns the bounds [lo, hi) of the largest run of
// transitions that fits in window (two pointers, linear).
func busiestWindow(ts []Transition, window time.Duration) (lo, hi int) {
	i := 0
	for j := range ts {
		for ts[j].Time.Sub(ts[i].Time) > window {
			i++
		}
		if j+1-i > hi-lo {
			lo, hi = i, j+1
		}
	}
	return lo, hi
}

func resources(samples []Sample) map[string]bool {
	m := map[string]bool{}
	for _, s := range samples {
		m[s.Key()] = true
	}
	return m
}
