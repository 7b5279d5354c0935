package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// Bounds that keep report.html readable for long runs; run.json keeps all.
const (
	htmlEvidenceMax = 200
	htmlStepsMax    = 300
	htmlFaultsMax   = 200
	htmlDiffMax     = 64 << 10
)

//go:embed report.html.tmpl
var reportTemplate string

// parseTemplate parses the embedded template; a parse error is a bug in
// this package, caught by every test that renders.
func parseTemplate() (*template.Template, error) {
	return template.New("report").Funcs(template.FuncMap{
		"f":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"add": func(a, b float64) float64 { return a + b },
		"mul": func(a, b float64) float64 { return a * b },
		"inc": func(i int) int { return i + 1 },
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"diamond": func(x, y float64) string {
			return fmt.Sprintf("%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f", x, y-6, x+6, y, x, y+6, x-6, y)
		},
		"dash": orDash,
	}).Parse(reportTemplate)
}

// WriteHTML renders run as one self-contained HTML page at path: inline CSS
// and SVG, no scripts, nothing fetched from the network.
func WriteHTML(run Run, path string) error {
	b, err := renderHTML(run)
	if err != nil {
		return fmt.Errorf("render report for run %s: %w", run.ID, err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// RegenerateHTML re-renders dir/report.html from dir/run.json, for
// `faultline report DIR` after this package's rendering has changed.
func RegenerateHTML(dir string) error {
	run, err := Load(dir)
	if err != nil {
		return err
	}
	return WriteHTML(run, filepath.Join(dir, HTMLFile))
}

func renderHTML(run Run) ([]byte, error) {
	t, err := parseTemplate()
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, newRunView(run)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type runView struct {
	Run
	Status    State
	Duration  string
	Scenarios []scenarioView
}

type scenarioView struct {
	Scenario
	Anchor         string
	Duration       string
	FailingChecker string
	Pic            *picture
	Verdicts       []verdictView
	Faults         []faultView
	FaultsMore     int
	Steps          []stepView
	StepsMore      int
	Logs           []logView
	Artifacts      []artifactView
	EventCounts    string
}

type verdictView struct {
	checkers.Verdict
	Rows      []evidenceRow
	RowsMore  int
	DiffLines []diffLine
	HasOffset bool
}

// diffLine is one line of a go-cmp diff, classed for colour: go-cmp marks
// removed lines with a leading "-" and added ones with "+".
type diffLine struct {
	Class string
	Text  string
}

func diffLines(diff string) []diffLine {
	if diff == "" {
		return nil
	}
	var out []diffLine
	for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		d := diffLine{Text: l}
		switch {
		case strings.HasPrefix(l, "-"):
			d.Class = "del"
		case strings.HasPrefix(l, "+"):
			d.Class = "ins"
		}
		out = append(out, d)
	}
	return out
}

type evidenceRow struct {
	checkers.Evidence
	Offset string
}

type faultView struct {
	Name, Target, From, To, Length, Detail string
	// Executor is what carried the fault out, with the Chaos Mesh object
	// when there was one ("" when the driver did not say).
	Executor string
	Healed   bool
}

// executorOf says what carried a fault out, from its detail.
func executorOf(d map[string]string) string {
	ex := d["executor"]
	if obj := d["chaos_object"]; obj != "" {
		ex += " " + obj
	}
	return ex
}

type stepView struct {
	N    int
	At   string
	Name string
}

type logView struct {
	Process string
	Text    string
	Lines   int
}

type artifactView struct {
	Path string
	Link bool
}

func newRunView(run Run) runView {
	if run.Summary == (Summary{}) && len(run.Scenarios) > 0 {
		run.Recount()
	}
	v := runView{Run: run, Status: StatePassed}
	if !run.Passed() {
		v.Status = StateFailed
	}
	if !run.Started.IsZero() && run.Finished.After(run.Started) {
		v.Duration = formatDur(run.Finished.Sub(run.Started))
	}
	for i, sc := range run.Scenarios {
		v.Scenarios = append(v.Scenarios, newScenarioView(i, sc))
	}
	return v
}

func newScenarioView(i int, sc Scenario) scenarioView {
	v := scenarioView{
		Scenario:       sc,
		Anchor:         "s" + strconv.Itoa(i+1),
		FailingChecker: sc.FailingChecker(),
		Pic:            layoutPicture(sc),
	}
	if d := sc.Duration(); d > 0 {
		v.Duration = formatDur(d)
	}
	for _, vd := range sc.Verdicts {
		v.Verdicts = append(v.Verdicts, newVerdictView(vd))
	}
	t0 := sc.Start
	if len(sc.Timeline) > 0 && (t0.IsZero() || sc.Timeline[0].Time.Before(t0)) {
		t0 = sc.Timeline[0].Time
	}
	c := clock{t0: t0, d: time.Second}
	faults := sc.Faults
	if len(faults) == 0 {
		faults = FaultsOf(sc.Timeline)
	}
	for j, f := range faults {
		if j == htmlFaultsMax {
			v.FaultsMore = len(faults) - j
			break
		}
		fv := faultView{Name: f.Name, Target: f.Target, From: rel(c, f.Start), Healed: f.Healed, Detail: detailString(f.Detail), Executor: executorOf(f.Detail)}
		if f.Healed {
			fv.To = rel(c, f.End)
			fv.Length = formatDur(f.End.Sub(f.Start))
		}
		v.Faults = append(v.Faults, fv)
	}
	counts := map[timeline.Kind]int{}
	n := 0
	for _, e := range sc.Timeline {
		counts[e.Kind]++
		if e.Kind != timeline.KindStep {
			continue
		}
		n++
		if len(v.Steps) == htmlStepsMax {
			v.StepsMore++
			continue
		}
		v.Steps = append(v.Steps, stepView{N: n, At: rel(c, e.Time), Name: e.Name})
	}
	if len(sc.Timeline) > 0 {
		var parts []string
		for _, k := range []timeline.Kind{timeline.KindFault, timeline.KindState, timeline.KindWorkload,
			timeline.KindStep, timeline.KindChecker, timeline.KindLog} {
			if counts[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
			}
		}
		v.EventCounts = fmt.Sprintf("%d timeline events: %s", len(sc.Timeline), strings.Join(parts, ", "))
	}
	procs := make([]string, 0, len(sc.LogTails))
	for p := range sc.LogTails {
		procs = append(procs, p)
	}
	sort.Strings(procs)
	for _, p := range procs {
		text := sc.LogTails[p]
		v.Logs = append(v.Logs, logView{Process: p, Text: text, Lines: strings.Count(strings.TrimRight(text, "\n"), "\n") + 1})
	}
	for _, a := range sc.Artifacts {
		v.Artifacts = append(v.Artifacts, artifactView{Path: a, Link: isRelativePath(a)})
	}
	return v
}

func newVerdictView(vd checkers.Verdict) verdictView {
	v := verdictView{Verdict: vd, DiffLines: diffLines(truncate(vd.Diff, htmlDiffMax))}
	for i, e := range vd.Evidence {
		if i == htmlEvidenceMax {
			v.RowsMore = len(vd.Evidence) - i
			break
		}
		r := evidenceRow{Evidence: e}
		if e.Offset != nil {
			r.Offset = fmt.Sprintf("%d (%#x)", *e.Offset, *e.Offset)
			v.HasOffset = true
		}
		v.Rows = append(v.Rows, r)
	}
	return v
}

func detailString(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + d[k]
	}
	return strings.Join(parts, " ")
}

// isRelativePath reports whether p is safe to link as an artifact: a path
// inside the report directory, never a URL that a browser would fetch.
func isRelativePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "\\") || strings.Contains(p, "..") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == ""
}
