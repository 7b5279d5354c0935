package mutation

import (
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/reports"
)

// Variant says whether a run had the scenario's defect switched on.
type Variant string

const (
	Clean  Variant = "clean"
	Defect Variant = "defect"
)

// Outcome is how one run ended, as the matrix counts it.
type Outcome string

const (
	// Passed: the scenario passed.
	Passed Outcome = "pass"
	// Caught: the scenario failed and a checker verdict says why (for a
	// defect run, the defect was caught).
	Caught Outcome = "checker-fail"
	// Failed: the scenario failed without a failing checker (a setup step,
	// an API error).
	Failed Outcome = "fail"
	// TimedOut: the spec's own timeout (or an interrupt) ended it.
	TimedOut Outcome = "timeout"
	// NotRun: faultline could not run the scenario at all.
	NotRun Outcome = "not-run"
)

// Result is one run of one scenario.
type Result struct {
	Scenario string  `json:"scenario"`
	Variant  Variant `json:"variant"`
	Defect   string  `json:"defect,omitempty"` // the switch that was on
	Attempt  int     `json:"attempt"`
	Seed     int64   `json:"seed"`
	Outcome  Outcome `json:"outcome"`
	// Checker is the first checker whose verdict did not pass.
	Checker string `json:"checker,omitempty"`
	// Detection is the time from the last fault injected before the
	// failing verdict (or from the scenario's start when there was none)
	// to that verdict; Elapsed is from the scenario's start.
	Detection time.Duration `json:"detection_ns,omitempty"`
	Elapsed   time.Duration `json:"elapsed_ns,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
	// Reason is the failure message or why the run could not happen.
	Reason   string `json:"reason,omitempty"`
	ExitCode int    `json:"exit_code"`
	// Dir is the run's report directory.
	Dir string `json:"dir"`
}

// OK reports whether the run is what the matrix requires of its variant:
// a clean run passes, a defect run is caught by a checker.
func (r Result) OK() bool {
	if r.Variant == Clean {
		return r.Outcome == Passed
	}
	return r.Outcome == Caught
}

// classify decides the outcome of a run from the scenario's record in
// run.json (nil when there is none) and faultline's exit code.
func classify(sc *reports.Scenario, exit int) Result {
	r := classifyState(sc, exit)
	if sc != nil {
		r.Duration = sc.Duration()
	}
	return r
}

func classifyState(sc *reports.Scenario, exit int) Result {
	if sc == nil {
		return Result{Outcome: NotRun, Reason: fmt.Sprintf("no record of the scenario (faultline exit status %d)", exit)}
	}
	reason := ""
	if sc.Failure != nil {
		reason = firstLine(sc.Failure.Message)
	}
	switch sc.State {
	case reports.StatePassed:
		if exit != 0 {
			return Result{Outcome: Failed, Reason: fmt.Sprintf("scenario passed but faultline exited with status %d", exit)}
		}
		return Result{Outcome: Passed}
	case reports.StateSkipped:
		return Result{Outcome: NotRun, Reason: "scenario skipped: " + reason}
	case reports.StateInterrupted:
		return Result{Outcome: TimedOut, Reason: reason}
	}
	if sc.Failure != nil && strings.Contains(sc.Failure.Message, "timeout occurred") {
		return Result{Outcome: TimedOut, Reason: reason}
	}
	v, ok := failingVerdict(sc.Verdicts)
	if !ok {
		return Result{Outcome: Failed, Reason: reason}
	}
	r := Result{Outcome: Caught, Reason: reason, Checker: v.Checker, Detection: detection(sc, v)}
	if !sc.Start.IsZero() && v.At.After(sc.Start) {
		r.Elapsed = v.At.Sub(sc.Start)
	}
	return r
}

// failingVerdict is the first verdict that failed, else the first that
// did not pass (an Unknown: the checker could not read what it needed).
func failingVerdict(vs []checkers.Verdict) (checkers.Verdict, bool) {
	for _, v := range vs {
		if v.Outcome == checkers.Fail {
			return v, true
		}
	}
	for _, v := range vs {
		if !v.Passed() {
			return v, true
		}
	}
	return checkers.Verdict{}, false
}

// detection measures from the last fault that began before the verdict,
// or from the scenario's start.
func detection(sc *reports.Scenario, v checkers.Verdict) time.Duration {
	from := sc.Start
	for _, f := range sc.Faults {
		if !f.Start.IsZero() && !f.Start.After(v.At) && f.Start.After(from) {
			from = f.Start
		}
	}
	if from.IsZero() || v.At.IsZero() || v.At.Before(from) {
		return 0
	}
	return v.At.Sub(from)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
