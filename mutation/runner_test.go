package mutation

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/reports"
)

// The runner's job is process plumbing: arguments, report directories,
// exit codes, run.json. TestMain lets this test binary stand in for
// `faultline run` (FAULTLINE_MUTATION_CHILD=1), so that plumbing is tested
// across real processes in milliseconds. The real scenarios are proven by
// `faultline mutation` itself (make mutation).
func TestMain(m *testing.M) {
	if os.Getenv("FAULTLINE_MUTATION_CHILD") == "1" {
		os.Exit(fakeFaultlineRun(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeFaultlineRun behaves like `faultline run --scenario S --out DIR`:
// scenario "broken" cannot run (exit 2, no run.json); with --defects the
// scenario fails through a checker, without it passes.
func fakeFaultlineRun(args []string) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(os.Stderr, "want run")
		return 2
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	scenario := fs.String("scenario", "", "")
	out := fs.String("out", "", "")
	seed := fs.Int64("seed", 0, "")
	defects := fs.String("defects", "", "")
	refengine := fs.String("refengine", "", "")
	iterations := fs.Int("iterations", 0, "")
	backupTarget := fs.String("backup-target", "file", "")
	restoreRate := fs.String("restore-rate-limit", "16M", "")
	fs.String("timeout", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *scenario == "broken" || *refengine != "/opt/refengine" || *iterations != 4 || *backupTarget != "s3" || *restoreRate != "0" {
		fmt.Fprintf(os.Stderr, "cannot run: scenario %q refengine %q iterations %d backup target %q restore rate %q\n",
			*scenario, *refengine, *iterations, *backupTarget, *restoreRate)
		return 2
	}
	start := time.Now().Add(-time.Second)
	sc := reports.Scenario{Name: *scenario, State: reports.StatePassed, Start: start, End: time.Now(), Seed: *seed,
		Verdicts: []checkers.Verdict{{Checker: "history", Outcome: checkers.Pass, At: time.Now()}}}
	code := 0
	if *defects != "" {
		code = 1
		sc.State = reports.StateFailed
		sc.Failure = &reports.Failure{Message: "checker checksum-equal: digest differs (" + *defects + ")"}
		sc.Faults = []reports.Fault{{Name: "replica-delete", Start: start.Add(200 * time.Millisecond)}}
		sc.Verdicts = append(sc.Verdicts, checkers.Verdict{Checker: "checksum-equal", Outcome: checkers.Fail, At: start.Add(700 * time.Millisecond)})
	}
	run := reports.Run{Format: reports.FormatVersion, Seed: *seed, Scenarios: []reports.Scenario{
		{Name: "smoke", State: reports.StateSkipped}, sc}}
	run.Recount()
	if err := run.Save(*out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return code
}

func TestRunAgainstChildProcesses(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAULTLINE_MUTATION_CHILD", "1")
	out := t.TempDir()
	var progress strings.Builder
	cases := []Case{{Scenario: "seed-a", Defect: "defect-a"}, {Scenario: "seed-b", Defect: "defect-b"}}
	m, err := Run(context.Background(), Config{Faultline: self, Refengine: "/opt/refengine", Out: out, Cases: cases,
		Repeat: 2, Iterations: 4, Seed: 100, Progress: &progress,
		BackupTarget: "s3", RunArgs: []string{"--backup-target", "s3", "--restore-rate-limit", "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.OK || len(m.Results) != 8 {
		t.Fatalf("matrix OK=%t with %d results, want OK with 8:\n%s", m.OK, len(m.Results), progress.String())
	}
	for _, r := range m.Results {
		wantSeed := int64(100 + r.Attempt - 1)
		if r.Seed != wantSeed {
			t.Errorf("%s %s #%d: seed %d, want %d", r.Scenario, r.Variant, r.Attempt, r.Seed, wantSeed)
		}
		if r.Variant == Defect && (r.Checker != "checksum-equal" || r.Detection != 500*time.Millisecond || r.ExitCode != 1) {
			t.Errorf("defect run %+v: want caught by checksum-equal after 500ms, exit 1", r)
		}
		if _, err := os.Stat(filepath.Join(r.Dir, "faultline.log")); err != nil {
			t.Errorf("run log: %v", err)
		}
	}
	saved, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !saved.OK || len(saved.Rows) != 2 || saved.Rows[1].WithDefect.Outcomes[Caught] != 2 || saved.BackupTarget != "s3" {
		t.Errorf("saved matrix: %+v", saved.Rows)
	}
}

func TestRunReportsWhatCouldNotRun(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAULTLINE_MUTATION_CHILD", "1")
	m, err := Run(context.Background(), Config{Faultline: self, Refengine: "/opt/refengine", Out: t.TempDir(),
		Cases: []Case{{Scenario: "broken", Defect: "d"}}, Iterations: 4})
	if err != nil {
		t.Fatal(err)
	}
	if m.OK {
		t.Fatal("a matrix whose runs could not happen is OK")
	}
	for _, r := range m.Results {
		if r.Outcome != NotRun || r.ExitCode != 2 || !strings.Contains(r.Reason, "run.json") {
			t.Errorf("%+v: want not-run with exit 2 and the missing run.json as reason", r)
		}
	}
}

func TestRunConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no binary": {Out: t.TempDir()},
		"no out":    {Faultline: "/bin/true"},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
