// Package reports turns a finished faultline run into the files people and
// CI read: run.json (the full record), junit.xml (trimmed, for CI),
// ginkgo.json (Ginkgo's own report) and report.html (one self-contained
// page with a timeline picture per scenario). The HTML is always rendered
// from run.json, so it can be regenerated after the run (RegenerateHTML).
package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// FormatVersion is the run.json schema version this package writes. Load
// refuses newer versions rather than silently dropping fields.
const FormatVersion = 1

// File names inside a report directory.
const (
	RunFile    = "run.json"
	JUnitFile  = "junit.xml"
	GinkgoFile = "ginkgo.json"
	HTMLFile   = "report.html"
)

// State is the outcome of one scenario.
type State string

const (
	StatePassed      State = "passed"
	StateFailed      State = "failed"
	StateSkipped     State = "skipped"
	StateInterrupted State = "interrupted"
)

func (s State) valid() bool {
	switch s {
	case StatePassed, StateFailed, StateSkipped, StateInterrupted:
		return true
	}
	return false
}

// Run is everything recorded about one faultline run.
type Run struct {
	Format   int       `json:"format"`
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Command is the command line that reproduces the whole run.
	Command  string   `json:"command"`
	Seed     int64    `json:"seed"`
	Defects  []string `json:"defects,omitempty"`
	Versions Versions `json:"versions"`
	Cluster  string   `json:"cluster"`
	Summary  Summary  `json:"summary"`
	// Notes are run-level problems: why the suite failed outside any spec.
	Notes     []string   `json:"notes,omitempty"`
	Scenarios []Scenario `json:"scenarios"`
}

// Versions names the code that ran.
type Versions struct {
	Faultline string `json:"faultline"`
	Refengine string `json:"refengine"`
	Go        string `json:"go"`
	// Kubernetes is the API server's version when the run was on Kubernetes (kind).
	Kubernetes string `json:"kubernetes,omitempty"`
	OS         string `json:"os"`
}

// HostVersions returns Versions with the Go and OS fields filled from the
// running binary.
func HostVersions(faultline, refengine string) Versions {
	return Versions{
		Faultline: faultline,
		Refengine: refengine,
		Go:        runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// Summary counts scenarios by state.
type Summary struct {
	Total       int `json:"total"`
	Passed      int `json:"passed"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Interrupted int `json:"interrupted"`
}

// Scenario is one spec of the run.
type Scenario struct {
	Name     string             `json:"name"`
	Labels   []string           `json:"labels,omitempty"`
	State    State              `json:"state"`
	Start    time.Time          `json:"start"`
	End      time.Time          `json:"end"`
	Failure  *Failure           `json:"failure,omitempty"`
	Seed     int64              `json:"seed"`
	Verdicts []checkers.Verdict `json:"verdicts,omitempty"`
	Timeline []timeline.Event   `json:"timeline,omitempty"`
	// Faults are the fault windows of Timeline, derived by FaultsOf.
	Faults []Fault `json:"faults,omitempty"`
	// LogTails maps a process name to the last lines of its log.
	LogTails map[string]string `json:"log_tails,omitempty"`
	// Artifacts are paths relative to the report directory.
	Artifacts []string `json:"artifacts,omitempty"`
	// Reproduce is the exact command that reruns this scenario alone.
	Reproduce string `json:"reproduce"`
	// Notes record problems in building the report itself, such as a
	// report entry that could not be decoded.
	Notes []string `json:"notes,omitempty"`
}

// Duration is End-Start, or zero when either is missing or they are reversed.
func (s Scenario) Duration() time.Duration {
	if s.Start.IsZero() || s.End.IsZero() || s.End.Before(s.Start) {
		return 0
	}
	return s.End.Sub(s.Start)
}

// FailingChecker names the first checker whose verdict is not a pass, or "".
func (s Scenario) FailingChecker() string {
	for _, v := range s.Verdicts {
		if v.Outcome == checkers.Fail {
			return v.Checker
		}
	}
	for _, v := range s.Verdicts {
		if !v.Passed() {
			return v.Checker
		}
	}
	return ""
}

// Failure says why a scenario did not pass.
type Failure struct {
	Message  string `json:"message"`
	Location string `json:"location,omitempty"`
}

// Recount recomputes r.Summary from r.Scenarios.
func (r *Run) Recount() {
	s := Summary{Total: len(r.Scenarios)}
	for _, sc := range r.Scenarios {
		switch sc.State {
		case StatePassed:
			s.Passed++
		case StateFailed:
			s.Failed++
		case StateSkipped:
			s.Skipped++
		case StateInterrupted:
			s.Interrupted++
		}
	}
	r.Summary = s
}

// Passed reports whether no scenario failed or was interrupted.
func (r Run) Passed() bool {
	for _, sc := range r.Scenarios {
		if sc.State == StateFailed || sc.State == StateInterrupted {
			return false
		}
	}
	return true
}

// Save writes r as dir/run.json, replacing any earlier file atomically.
func (r Run) Save(dir string) error {
	if r.Format == 0 {
		r.Format = FormatVersion
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run %s: %w", r.ID, err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, RunFile)
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("save run %s: %w", r.ID, err)
	}
	return nil
}

// Load reads dir/run.json.
func Load(dir string) (Run, error) {
	path := filepath.Join(dir, RunFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return Run{}, fmt.Errorf("load run: %w", err)
	}
	r, err := DecodeRun(b)
	if err != nil {
		return Run{}, fmt.Errorf("load run %s: %w", path, err)
	}
	return r, nil
}

// DecodeRun parses and validates the bytes of a run.json.
func DecodeRun(b []byte) (Run, error) {
	var r Run
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return Run{}, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return Run{}, errors.New("decode: trailing data after the run object")
	}
	if r.Format < 1 || r.Format > FormatVersion {
		return Run{}, fmt.Errorf("unsupported format %d (this build reads 1..%d)", r.Format, FormatVersion)
	}
	for i, sc := range r.Scenarios {
		if !sc.State.valid() {
			return Run{}, fmt.Errorf("scenario %d (%q): unknown state %q", i, sc.Name, sc.State)
		}
	}
	return r, nil
}

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so a crash never leaves a half-written report behind.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
