package state

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/faultline/faultline/checkers"
)

// NameNever is the checker name of Never's verdicts.
const NameNever = "state-never"

// Condition is a named predicate over one observed state, e.g. "robustness faulted".
type Condition struct {
	What  string
	Holds func(Sample) bool
}

// RobustnessIs holds while a resource's robustness is r (a volume "faulted", say).
func RobustnessIs(r string) Condition {
	return Condition{What: "robustness " + r, Holds: func(s Sample) bool { return s.Robustness == r }}
}

// StateIs holds while a resource's state is st.
func StateIs(st string) Condition {
	return Condition{What: "state " + st, Holds: func(s Sample) bool { return s.State == st }}
}

// Never fails when any resource held cond for longer than limit without a break. A stretch starts
// at the first sample where cond holds and ends at the next sample of that resource where it does
// not; a stretch still open at end (the time of the check) counts up to end. It catches states
// that should pass but stick: a volume briefly faulted while a node is down is a fact of life, one
// that stays faulted after the node is back is the bug (a DR volume never salvaged, say).
func Never(samples []Sample, cond Condition, limit time.Duration, end time.Time) checkers.Verdict {
	sorted := slices.Clone(samples)
	slices.SortStableFunc(sorted, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	type stretch struct{ from, to time.Time }
	open := map[string]time.Time{}
	longest := map[string]stretch{}
	note := func(k string, from, to time.Time) {
		if cur, ok := longest[k]; !ok || to.Sub(from) > cur.to.Sub(cur.from) {
			longest[k] = stretch{from, to}
		}
	}
	for _, s := range sorted {
		k := s.Key()
		from, holding := open[k]
		switch {
		case cond.Holds(s) && !holding:
			open[k] = s.Time
		case !cond.Holds(s) && holding:
			note(k, from, s.Time)
			delete(open, k)
		}
	}
	for k, from := range open {
		note(k, from, end)
	}
	var ev []checkers.Evidence
	worst := time.Duration(0)
	for _, k := range slices.Sorted(maps.Keys(longest)) {
		st := longest[k]
		d := st.to.Sub(st.from)
		worst = max(worst, d)
		if d <= limit {
			continue
		}
		still := ""
		if from, ok := open[k]; ok && from.Equal(st.from) {
			still = " (still holding at the check)"
		}
		ev = append(ev, checkers.Evidence{What: cond.What, Expected: fmt.Sprintf("at most %v at a stretch", limit),
			Actual: fmt.Sprintf("%v from %s%s", d.Round(time.Millisecond), st.from.Format(time.RFC3339Nano), still), Detail: k})
	}
	if len(ev) == 0 {
		return checkers.Verdict{Checker: NameNever, Outcome: checkers.Pass, At: time.Now(),
			Summary: fmt.Sprintf("%s never held longer than %v (longest %v, %d resources)", cond.What, limit, worst.Round(time.Millisecond), len(resources(samples)))}
	}
	return checkers.Verdict{Checker: NameNever, Outcome: checkers.Fail, At: time.Now(), Evidence: ev,
		Summary: fmt.Sprintf("%s held longer than %v on %d resource(s): %s for %s", cond.What, limit, len(ev), ev[0].Detail, ev[0].Actual)}
}

// Never runs Never over the tracker's samples up to now and records the verdict on its timeline.
func (t *Tracker) Never(cond Condition, limit time.Duration) checkers.Verdict {
	return checkers.Record(t.rec, Never(t.Samples(), cond, limit, time.Now()))
}
