package mutation

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Matrix is the result of a mutation run: scenario × {clean, defect}.
type Matrix struct {
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Seed       int64     `json:"seed"`
	Repeat     int       `json:"repeat"`
	Iterations int       `json:"iterations,omitempty"`
	// BackupTarget is the kind of backup target the runs used (file or s3).
	BackupTarget string   `json:"backupTarget,omitempty"`
	Rows         []Row    `json:"rows"`
	Results      []Result `json:"results"`
	// OK is true when every clean run passed and every defect run was
	// caught by a checker.
	OK bool `json:"ok"`
}

// Row is one scenario's line of the matrix.
type Row struct {
	Case
	Clean      Cell `json:"clean"`
	WithDefect Cell `json:"with_defect"`
}

// Cell sums up the runs of one variant of one scenario.
type Cell struct {
	Runs     int             `json:"runs"`
	Outcomes map[Outcome]int `json:"outcomes"`
	// Checkers are the checkers that failed, in order of first appearance.
	Checkers []string `json:"checkers,omitempty"`
	// Detection is the median and the maximum time to detection of the
	// caught runs.
	MedianDetection time.Duration `json:"median_detection_ns,omitempty"`
	MaxDetection    time.Duration `json:"max_detection_ns,omitempty"`
	// MedianDuration and MaxDuration are the scenario run times.
	MedianDuration time.Duration `json:"median_duration_ns"`
	MaxDuration    time.Duration `json:"max_duration_ns"`
	OK             bool          `json:"ok"`
}

// Build assembles the matrix of results for cases, in cases order.
func Build(cases []Case, results []Result) []Row {
	rows := make([]Row, 0, len(cases))
	for _, c := range cases {
		row := Row{Case: c}
		var clean, defect []Result
		for _, r := range results {
			switch {
			case r.Scenario != c.Scenario:
			case r.Variant == Clean:
				clean = append(clean, r) // a scenario's rows share its clean runs
			case r.Defect == c.Defect || (r.Defect == "" && !c.Rate): // "": a record from before rate rows
				defect = append(defect, r)
			}
		}
		row.Clean, row.WithDefect = cell(clean), cell(defect)
		if c.Rate {
			// A miss of a probabilistic defect is a measurement; only a run
			// that neither passed nor was caught is wrong.
			row.WithDefect.OK = len(defect) > 0
			for _, r := range defect {
				row.WithDefect.OK = row.WithDefect.OK && (r.Outcome == Caught || r.Outcome == Passed)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func cell(rs []Result) Cell {
	c := Cell{Runs: len(rs), Outcomes: map[Outcome]int{}, OK: len(rs) > 0}
	var det, dur []time.Duration
	for _, r := range rs {
		c.Outcomes[r.Outcome]++
		c.OK = c.OK && r.OK()
		if r.Checker != "" && !slices.Contains(c.Checkers, r.Checker) {
			c.Checkers = append(c.Checkers, r.Checker)
		}
		if r.Outcome == Caught {
			det = append(det, r.Detection)
		}
		dur = append(dur, r.Duration)
	}
	c.MedianDetection, c.MaxDetection = medianMax(det)
	c.MedianDuration, c.MaxDuration = medianMax(dur)
	return c
}

func medianMax(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// allOK is the matrix's verdict: every cell of every row OK.
func allOK(rows []Row) bool {
	if len(rows) == 0 {
		return false
	}
	for _, r := range rows {
		if !r.Clean.OK || !r.WithDefect.OK {
			return false
		}
	}
	return true
}

// Print writes the matrix as a table, then one line per run that is not
// what its variant requires.
func (m Matrix) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tDEFECT\tCLEAN\tWITH DEFECT\tCAUGHT BY\tDETECTION (median/max)\tRUN TIME clean/defect (median)")
	for _, r := range m.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s / %s\n", r.Scenario, r.Defect,
			describe(r.Clean, Passed, "pass"), defectText(r), orDash(strings.Join(r.WithDefect.Checkers, ",")),
			detectionText(r.WithDefect), round(r.Clean.MedianDuration), round(r.WithDefect.MedianDuration))
	}
	tw.Flush()
	for _, r := range m.Results {
		if !r.OK() && !(r.Variant == Defect && r.Outcome == Passed && rateDefect(m.Rows, r)) {
			fmt.Fprintf(w, "  %s %s #%d: %s", r.Scenario, r.Variant, r.Attempt, r.Outcome)
			if r.Checker != "" {
				fmt.Fprintf(w, " by %s", r.Checker)
			}
			if r.Reason != "" {
				fmt.Fprintf(w, ": %s", r.Reason)
			}
			fmt.Fprintf(w, " (%s)\n", r.Dir)
		}
	}
	verdict := "FAIL: not every clean run passed or not every defect was caught by a checker"
	if m.OK {
		verdict = "OK: every clean run passed, every defect was caught by a checker"
	}
	fmt.Fprintln(w, verdict)
}

// describe renders a cell as "caught 3/3" (want is the outcome required,
// label its name), adding the other outcomes when there are any.
func describe(c Cell, want Outcome, label string) string {
	if c.Runs == 0 {
		return "-"
	}
	s := fmt.Sprintf("%s %d/%d", label, c.Outcomes[want], c.Runs)
	var other []string
	for _, o := range []Outcome{Passed, Caught, Failed, TimedOut, NotRun} {
		if o != want && c.Outcomes[o] > 0 {
			other = append(other, fmt.Sprintf("%s %d", o, c.Outcomes[o]))
		}
	}
	if len(other) > 0 {
		s += " (" + strings.Join(other, ", ") + ")"
	}
	return s
}

// defectText is the defect cell: "caught k/N", and for a rate row the
// detection rate, "rate caught k/N = p%".
func defectText(r Row) string {
	s := describe(r.WithDefect, Caught, "caught")
	if r.Rate && r.WithDefect.Runs > 0 {
		s = fmt.Sprintf("rate %s = %d%%", s, 100*r.WithDefect.Outcomes[Caught]/r.WithDefect.Runs)
	}
	return s
}

// rateDefect reports whether a result belongs to a rate row.
func rateDefect(rows []Row, r Result) bool {
	for _, row := range rows {
		if row.Rate && row.Scenario == r.Scenario && row.Defect == r.Defect {
			return true
		}
	}
	return false
}

func detectionText(c Cell) string {
	if c.Outcomes[Caught] == 0 {
		return "-"
	}
	return round(c.MedianDetection) + "/" + round(c.MaxDetection)
}

func round(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// File is the matrix's JSON file name inside the output directory.
const File = "mutation.json"

// Save writes the matrix as dir/mutation.json (atomically).
func (m Matrix) Save(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode mutation matrix: %w", err)
	}
	tmp := filepath.Join(dir, File+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write mutation matrix: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, File)); err != nil {
		return fmt.Errorf("write mutation matrix: %w", err)
	}
	return nil
}

// Load reads dir/mutation.json.
func Load(dir string) (Matrix, error) {
	var m Matrix
	b, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		return m, fmt.Errorf("read mutation matrix: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode %s: %w", filepath.Join(dir, File), err)
	}
	return m, nil
}
