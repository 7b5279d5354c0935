package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// Names of the report entries the scenario harness attaches to each spec
// with AddReportEntry. Values may be the Go values below or the same values
// already encoded as a JSON string.
const (
	EntrySeed      = "faultline.seed"      // int64
	EntryVerdict   = "faultline.verdict"   // checkers.Verdict or []checkers.Verdict
	EntryTimeline  = "faultline.timeline"  // []timeline.Event
	EntryLogs      = "faultline.logs"      // map[string]string: process -> log text
	EntryReproduce = "faultline.reproduce" // string: command that reruns the spec
	EntryArtifacts = "faultline.artifacts" // []string: paths relative to the report dir
)

// LogTailLines is how many trailing lines of each log a scenario keeps.
const LogTailLines = 60

// RunMeta is what FromGinkgo cannot learn from Ginkgo's report.
type RunMeta struct {
	ID       string
	Command  string // reproduces the whole run
	Seed     int64
	Defects  []string
	Versions Versions
	Cluster  string
	// Reproduce, when set, builds a scenario's command when the spec did not
	// attach one; otherwise Command is used.
	Reproduce func(Scenario) string
}

// FromGinkgo maps a Ginkgo report to a Run: one scenario per It (and per
// failed suite-level node, so a broken BeforeSuite is visible), with the
// data the harness attached as report entries. Entries that cannot be read
// are noted on the scenario instead of failing the conversion.
func FromGinkgo(report types.Report, meta RunMeta) Run {
	r := Run{
		Format:   FormatVersion,
		ID:       meta.ID,
		Started:  report.StartTime,
		Finished: report.EndTime,
		Command:  meta.Command,
		Seed:     meta.Seed,
		Defects:  meta.Defects,
		Versions: meta.Versions,
		Cluster:  meta.Cluster,
	}
	if !report.SuiteSucceeded {
		r.Notes = append(r.Notes, report.SpecialSuiteFailureReasons...)
	}
	for _, sr := range report.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			if !sr.Failed() {
				continue
			}
		}
		r.Scenarios = append(r.Scenarios, scenarioFromSpec(sr, meta))
	}
	r.Recount()
	return r
}

func scenarioFromSpec(sr types.SpecReport, meta RunMeta) Scenario {
	sc := Scenario{
		Name:   sr.FullText(),
		Labels: sr.Labels(),
		State:  stateOf(sr.State),
		Start:  sr.StartTime,
		End:    sr.EndTime,
		Seed:   meta.Seed,
	}
	if sr.LeafNodeType != types.NodeTypeIt {
		sc.Name = strings.TrimSpace("[" + sr.LeafNodeType.String() + "] " + sc.Name)
	}
	if sc.End.IsZero() && !sc.Start.IsZero() && sr.RunTime > 0 {
		sc.End = sc.Start.Add(sr.RunTime)
	}
	if !sr.Failure.IsZero() {
		msg := sr.Failure.Message
		if sr.Failure.ForwardedPanic != "" {
			msg = strings.TrimSpace(msg + "\npanic: " + sr.Failure.ForwardedPanic)
		}
		for _, af := range sr.AdditionalFailures {
			msg = strings.TrimSpace(msg + "\nalso (" + af.State.String() + "): " + af.Failure.Message)
		}
		sc.Failure = &Failure{Message: msg, Location: locationString(sr.Failure.Location)}
	}
	for _, e := range sr.ReportEntries {
		if err := applyEntry(&sc, e); err != nil {
			sc.Notes = append(sc.Notes, fmt.Sprintf("report entry %s: %v", e.Name, err))
		}
	}
	if sr.Failed() && strings.TrimSpace(sr.CapturedGinkgoWriterOutput) != "" {
		if sc.LogTails == nil {
			sc.LogTails = map[string]string{}
		}
		sc.LogTails["ginkgo-writer"] = Tail(sr.CapturedGinkgoWriterOutput, LogTailLines)
	}
	sc.Faults = FaultsOf(sc.Timeline)
	if sc.Reproduce == "" {
		if meta.Reproduce != nil {
			sc.Reproduce = meta.Reproduce(sc)
		} else {
			sc.Reproduce = meta.Command
		}
	}
	return sc
}

func stateOf(s types.SpecState) State {
	switch {
	case s.Is(types.SpecStatePassed):
		return StatePassed
	case s.Is(types.SpecStateSkipped | types.SpecStatePending):
		return StateSkipped
	case s.Is(types.SpecStateInterrupted):
		return StateInterrupted
	default: // failed, panicked, aborted, timed out, invalid
		return StateFailed
	}
}

func locationString(cl types.CodeLocation) string {
	if cl.FileName == "" {
		return cl.CustomMessage
	}
	return fmt.Sprintf("%s:%d", cl.FileName, cl.LineNumber)
}

// applyEntry folds one faultline.* report entry into sc; other entries are
// ignored.
func applyEntry(sc *Scenario, e types.ReportEntry) error {
	switch e.Name {
	case EntrySeed:
		return DecodeEntry(e.Value, &sc.Seed)
	case EntryReproduce:
		return DecodeEntry(e.Value, &sc.Reproduce)
	case EntryVerdict:
		var v checkers.Verdict
		if err := DecodeEntry(e.Value, &v); err == nil {
			sc.Verdicts = append(sc.Verdicts, v)
			return nil
		}
		var vs []checkers.Verdict
		if err := DecodeEntry(e.Value, &vs); err != nil {
			return err
		}
		sc.Verdicts = append(sc.Verdicts, vs...)
	case EntryTimeline:
		var evs []timeline.Event
		if err := DecodeEntry(e.Value, &evs); err != nil {
			return err
		}
		sc.Timeline = append(sc.Timeline, evs...)
		sortEvents(sc.Timeline)
	case EntryLogs:
		var logs map[string]string
		if err := DecodeEntry(e.Value, &logs); err != nil {
			return err
		}
		if sc.LogTails == nil {
			sc.LogTails = make(map[string]string, len(logs))
		}
		for name, text := range maps.All(logs) {
			sc.LogTails[name] = Tail(text, LogTailLines)
		}
	case EntryArtifacts:
		var paths []string
		if err := DecodeEntry(e.Value, &paths); err != nil {
			return err
		}
		sc.Artifacts = append(sc.Artifacts, paths...)
	}
	return nil
}

// DecodeEntry decodes a report entry value into dst. It reads AsJSON when
// the entry came back from a JSON report (or across Ginkgo's parallel
// processes), and the raw Go value otherwise. A value that was attached as
// a string holding JSON is decoded from that string.
func DecodeEntry(v types.ReportEntryValue, dst any) error {
	data := []byte(v.AsJSON)
	if len(data) == 0 {
		raw := v.GetRawValue()
		if raw == nil {
			return errors.New("empty value")
		}
		var err error
		if data, err = json.Marshal(raw); err != nil {
			return fmt.Errorf("encode raw value: %w", err)
		}
	}
	err := json.Unmarshal(data, dst)
	if err == nil {
		return nil
	}
	var s string
	if json.Unmarshal(data, &s) == nil {
		if err2 := json.Unmarshal([]byte(s), dst); err2 == nil {
			return nil
		}
	}
	return fmt.Errorf("decode value into %T: %w", dst, err)
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if n <= 0 {
		return ""
	}
	i := len(s)
	for range n {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}

// sortEvents orders events by time, keeping the order of ties.
func sortEvents(evs []timeline.Event) {
	slices.SortStableFunc(evs, func(a, b timeline.Event) int { return a.Time.Compare(b.Time) })
}
