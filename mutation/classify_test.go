package mutation

import (
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/reports"
)

func TestClassify(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	fault := func(s float64) reports.Fault {
		return reports.Fault{Name: "instance-manager-delete", Start: at(s), End: at(s + 1), Healed: true}
	}
	verdict := func(name string, o checkers.Outcome, s float64) checkers.Verdict {
		return checkers.Verdict{Checker: name, Outcome: o, At: at(s)}
	}
	failure := func(msg string) *reports.Failure { return &reports.Failure{Message: msg} }

	for _, tc := range []struct {
		name      string
		sc        *reports.Scenario
		exit      int
		want      Outcome
		checker   string
		detection time.Duration
		elapsed   time.Duration
	}{
		{name: "no record", sc: nil, exit: 2, want: NotRun},
		{name: "passed", sc: &reports.Scenario{State: reports.StatePassed, Start: at(0), End: at(10),
			Verdicts: []checkers.Verdict{verdict("history", checkers.Pass, 9)}}, want: Passed},
		{name: "passed but faultline failed", sc: &reports.Scenario{State: reports.StatePassed}, exit: 1, want: Failed},
		{name: "skipped", sc: &reports.Scenario{State: reports.StateSkipped, Failure: failure("no cluster")}, exit: 0, want: NotRun},
		{name: "caught after the last fault before the verdict",
			sc: &reports.Scenario{State: reports.StateFailed, Start: at(0), End: at(30), Failure: failure("checker state-crashloop: crash loop\nmore"),
				Faults:   []reports.Fault{fault(2), fault(5), fault(20)},
				Verdicts: []checkers.Verdict{verdict("history", checkers.Pass, 4), verdict("state-crashloop", checkers.Fail, 6.5)}},
			exit: 1, want: Caught, checker: "state-crashloop", detection: 1500 * time.Millisecond, elapsed: 6500 * time.Millisecond},
		{name: "a fail verdict wins over an earlier unknown",
			sc: &reports.Scenario{State: reports.StateFailed, Start: at(0), Failure: failure("checker checksum-equal: differs"),
				Verdicts: []checkers.Verdict{verdict("checksum-replicas", checkers.Unknown, 1), verdict("checksum-equal", checkers.Fail, 3)}},
			exit: 1, want: Caught, checker: "checksum-equal", detection: 3 * time.Second, elapsed: 3 * time.Second},
		{name: "unknown verdict counts as caught",
			sc: &reports.Scenario{State: reports.StateFailed, Start: at(0), Failure: failure("checker history: stopped"),
				Verdicts: []checkers.Verdict{verdict("history", checkers.Unknown, 2)}},
			exit: 1, want: Caught, checker: "history", detection: 2 * time.Second, elapsed: 2 * time.Second},
		{name: "failed without a checker",
			sc:   &reports.Scenario{State: reports.StateFailed, Failure: failure("volume x did not reach detached within 1m0s")},
			exit: 1, want: Failed},
		{name: "spec timeout even with a failing verdict",
			sc: &reports.Scenario{State: reports.StateFailed, Failure: failure("A spec timeout occurred"),
				Verdicts: []checkers.Verdict{verdict("history", checkers.Unknown, 2)}},
			exit: 1, want: TimedOut},
		{name: "interrupted", sc: &reports.Scenario{State: reports.StateInterrupted, Failure: failure("Interrupted by User")}, exit: 1, want: TimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := classify(tc.sc, tc.exit)
			if r.Outcome != tc.want || r.Checker != tc.checker || r.Detection != tc.detection || r.Elapsed != tc.elapsed {
				t.Errorf("classify = outcome %s checker %q detection %v elapsed %v; want %s %q %v %v (reason %q)",
					r.Outcome, r.Checker, r.Detection, r.Elapsed, tc.want, tc.checker, tc.detection, tc.elapsed, r.Reason)
			}
			if r.Outcome != Passed && r.Reason == "" {
				t.Errorf("outcome %s without a reason", r.Outcome)
			}
		})
	}
}

func TestResultOK(t *testing.T) {
	for _, tc := range []struct {
		v    Variant
		o    Outcome
		want bool
	}{
		{Clean, Passed, true}, {Clean, Caught, false}, {Clean, TimedOut, false},
		{Defect, Caught, true}, {Defect, Passed, false}, {Defect, Failed, false}, {Defect, TimedOut, false}, {Defect, NotRun, false},
	} {
		if got := (Result{Variant: tc.v, Outcome: tc.o}).OK(); got != tc.want {
			t.Errorf("%s %s: OK = %t, want %t", tc.v, tc.o, got, tc.want)
		}
	}
}
