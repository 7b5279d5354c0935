package checkers

import (
	"strconv"
	"time"

	"github.com/faultline/faultline/timeline"
)

// Record stamps v with the current time when it has none and, when rec is
// not nil, adds it to the timeline as a KindChecker event on the checker's
// lane. It returns v so a checker can end with `return checkers.Record(rec, v)`.
func Record(rec *timeline.Recorder, v Verdict) Verdict {
	if v.At.IsZero() {
		v.At = time.Now()
	}
	if rec != nil {
		rec.Add(timeline.Event{
			Time: v.At, Kind: timeline.KindChecker, Lane: "checker/" + v.Checker, Name: string(v.Outcome),
			Detail: map[string]string{"summary": v.Summary, "evidence": strconv.Itoa(len(v.Evidence))},
		})
	}
	return v
}

// Merge combines verdicts of one check into one outcome with the priority
// fail > unknown > pass, so a definite failure is never hidden by a read
// that could not decide.
func Merge(outcomes ...Outcome) Outcome {
	out := Pass
	for _, o := range outcomes {
		switch {
		case o == Fail:
			return Fail
		case o == Unknown:
			out = Unknown
		}
	}
	return out
}

// Off returns a pointer to off, for Evidence.Offset.
func Off(off int64) *int64 { return &off }
