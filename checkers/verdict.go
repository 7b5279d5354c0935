// Package checkers decides whether a run passed: each checker looks at what
// the run recorded (volume digests, the workload history, the state
// timeline) and returns a Verdict with the evidence behind it.
package checkers

import "time"

// Outcome is a checker's decision. Unknown is distinct from Fail: the
// checker could not decide (a read failed, a deadline passed before data
// could be compared), and reports show it as such.
type Outcome string

const (
	Pass    Outcome = "pass"
	Fail    Outcome = "fail"
	Unknown Outcome = "unknown"
)

// Evidence is one concrete finding behind a verdict: a lost write at an
// offset, a digest that differs, a state that flapped.
type Evidence struct {
	What     string `json:"what"`
	Offset   *int64 `json:"offset,omitempty"`
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// Verdict is what a checker returns.
type Verdict struct {
	Checker  string     `json:"checker"`
	Outcome  Outcome    `json:"outcome"`
	Summary  string     `json:"summary"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Diff is an expected-vs-actual rendering (go-cmp) when one applies.
	Diff string    `json:"diff,omitempty"`
	At   time.Time `json:"at"`
}

// Passed reports whether the verdict is a pass.
func (v Verdict) Passed() bool { return v.Outcome == Pass }
