package mutation

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestBuildAndVerdict(t *testing.T) {
	cases := []Case{{Scenario: "a", Defect: "da"}, {Scenario: "b", Defect: "db"}}
	good := []Result{
		{Scenario: "a", Variant: Clean, Outcome: Passed, Duration: 3 * time.Second},
		{Scenario: "a", Variant: Defect, Outcome: Caught, Checker: "state-crashloop", Detection: 2 * time.Second, Duration: time.Second},
		{Scenario: "a", Variant: Defect, Outcome: Caught, Checker: "history", Detection: 4 * time.Second, Duration: time.Second},
		{Scenario: "b", Variant: Clean, Outcome: Passed},
		{Scenario: "b", Variant: Defect, Outcome: Caught, Checker: "checksum-equal", Detection: time.Second},
	}
	rows := Build(cases, good)
	if !allOK(rows) {
		t.Fatalf("all clean passed and all defects caught, but the matrix is not OK: %+v", rows)
	}
	a := rows[0].WithDefect
	if a.Runs != 2 || a.Outcomes[Caught] != 2 || !cmp.Equal(a.Checkers, []string{"state-crashloop", "history"}) || a.MaxDetection != 4*time.Second {
		t.Errorf("row a defect cell = %+v", a)
	}

	for name, bad := range map[string][]Result{
		"defect passed":      {good[0], {Scenario: "a", Variant: Defect, Outcome: Passed}, good[3], good[4]},
		"defect timed out":   {good[0], {Scenario: "a", Variant: Defect, Outcome: TimedOut}, good[3], good[4]},
		"clean failed":       {{Scenario: "a", Variant: Clean, Outcome: Caught, Checker: "history"}, good[1], good[3], good[4]},
		"scenario never ran": {good[0], good[1]},
	} {
		if allOK(Build(cases, bad)) {
			t.Errorf("%s: matrix OK, want not OK", name)
		}
	}
	if allOK(nil) {
		t.Error("an empty matrix is OK")
	}
}

// A rate row shares its scenario's clean runs, takes only its own
// defect's runs, prints the detection rate, and counts a defect run that
// passed as a miss, not a failure; a run that failed otherwise still fails
// the matrix.
func TestRateRow(t *testing.T) {
	cases := []Case{{Scenario: "loop", Defect: "d"}, {Scenario: "loop", Defect: "d-intermittent", Rate: true}}
	results := []Result{
		{Scenario: "loop", Variant: Clean, Outcome: Passed},
		{Scenario: "loop", Variant: Defect, Defect: "d", Outcome: Caught, Checker: "state-crashloop"},
		{Scenario: "loop", Variant: Defect, Defect: "d-intermittent", Outcome: Caught, Checker: "rpc-no-head-exists"},
		{Scenario: "loop", Variant: Defect, Defect: "d-intermittent", Outcome: Passed},
		{Scenario: "loop", Variant: Defect, Defect: "d-intermittent", Outcome: Caught, Checker: "rpc-no-head-exists"},
	}
	rows := Build(cases, results)
	if rows[1].Clean.Runs != 1 || rows[0].WithDefect.Runs != 1 || rows[1].WithDefect.Runs != 3 {
		t.Fatalf("rows = %+v", rows)
	}
	if !allOK(rows) {
		t.Errorf("a miss of a rate defect failed the matrix: %+v", rows)
	}
	m := Matrix{Rows: rows, Results: results, OK: allOK(rows)}
	var b bytes.Buffer
	m.Print(&b)
	if out := b.String(); !strings.Contains(out, "rate caught 2/3 (pass 1) = 66%") || strings.Contains(out, "#0: pass") {
		t.Errorf("matrix output:\n%s", out)
	}
	results = append(results, Result{Scenario: "loop", Variant: Defect, Defect: "d-intermittent", Outcome: TimedOut})
	if allOK(Build(cases, results)) {
		t.Error("a rate row's timed-out run left the matrix OK")
	}
}

func TestPrintAndSave(t *testing.T) {
	cases := []Case{{Scenario: "instance-manager-restart-loop", Defect: "im-restart-stale-head-cache"}}
	results := []Result{
		{Scenario: cases[0].Scenario, Variant: Clean, Attempt: 1, Outcome: Passed, Duration: 90 * time.Second},
		{Scenario: cases[0].Scenario, Variant: Defect, Attempt: 1, Outcome: TimedOut, Reason: "A spec timeout occurred", Dir: "/x/defect-1"},
	}
	m := Matrix{Seed: 7, Repeat: 1, Rows: Build(cases, results), Results: results}
	m.OK = allOK(m.Rows)
	var b bytes.Buffer
	m.Print(&b)
	out := b.String()
	for _, want := range []string{"instance-manager-restart-loop", "im-restart-stale-head-cache", "pass 1/1", "caught 0/1 (timeout 1)", "pass 1/1",
		"defect #1: timeout: A spec timeout occurred (/x/defect-1)", "FAIL:"} {
		if !strings.Contains(out, want) {
			t.Errorf("matrix output lacks %q:\n%s", want, out)
		}
	}

	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, back); diff != "" {
		t.Errorf("mutation.json round trip (-saved +loaded):\n%s", diff)
	}
}

// FuzzLoad: any mutation.json either loads or gives an error naming the
// file; what loads saves and loads back the same.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"seed":7,"repeat":1,"rows":[{"scenario":"a","defect":"d","clean":{"runs":1,"outcomes":{"pass":1},"ok":true}}],"ok":false}`))
	f.Add([]byte(`{"results":[{"scenario":"a","variant":"defect","outcome":"checker-fail","detection_ns":5}]}`))
	f.Add([]byte(`{"rows":null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, File), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(dir)
		if err != nil {
			if !strings.Contains(err.Error(), File) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if err := m.Save(dir); err != nil {
			t.Fatal(err)
		}
		back, err := Load(dir)
		if err != nil {
			t.Fatalf("reload of a saved matrix: %v", err)
		}
		if diff := cmp.Diff(m, back, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-saved +loaded):\n%s", diff)
		}
	})
}
