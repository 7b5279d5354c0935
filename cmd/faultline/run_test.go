package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/gobuild"
	"github.com/faultline/faultline/internal/testtool"
	"github.com/faultline/faultline/reports"
)

// runBinary runs a built faultline in dir and returns exit code, stdout,
// stderr.
func runBinary(t *testing.T, fl, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(fl, args...)
	cmd.Dir = dir
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("faultline %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestRunSmoke runs `faultline run --scenario smoke` as a user would and
// checks the exit status, the summary table and the report directory.
func TestRunSmoke(t *testing.T) {
	fl, ref := buildBinaries(t)
	work := t.TempDir()
	code, stdout, stderr := runBinary(t, fl, work, "run", "--scenario", "smoke", "--seed", "42", "--refengine", ref)
	if code != exitPass {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{`seed 42`, `SCENARIO\s+RESULT`, `\bsmoke\s+passed`, `1 passed, 0 failed`} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	latest := filepath.Join(work, "runs", "latest")
	for _, f := range []string{"run.json", "junit.xml", "ginkgo.json", "report.html", "cluster/cluster.json", "cluster/logs/manager.log", "cluster/logs/node-1.log"} {
		if _, err := os.Stat(filepath.Join(latest, f)); err != nil {
			t.Errorf("report directory: %v", err)
		}
	}
	run, err := reports.Load(latest)
	if err != nil {
		t.Fatal(err)
	}
	// The other scenarios are listed as skipped.
	i := slices.IndexFunc(run.Scenarios, func(sc reports.Scenario) bool { return sc.Name == "smoke" })
	if run.Seed != 42 || i < 0 || run.Scenarios[i].State != reports.StatePassed || run.Summary.Passed != 1 {
		t.Fatalf("run.json: seed %d, scenarios %+v", run.Seed, run.Scenarios)
	}
	sc := run.Scenarios[i]
	if len(sc.Verdicts) < 2 || !strings.Contains(sc.Reproduce, "--scenario smoke --seed 42") {
		t.Errorf("scenario lacks verdicts or reproduce command: %+v", sc)
	}
}

// TestRunCannotStartCluster: a refengine that cannot run a cluster is
// "could not run" (2), not a failed scenario (1), and --json still prints
// the run.
func TestRunCannotStartCluster(t *testing.T) {
	fl := testtool.Build(t, gobuild.Faultline)
	code, stdout, stderr := runBinary(t, fl, t.TempDir(), "run", "--refengine", "/bin/true", "--json", "--out", "report")
	if code != exitNotRun {
		t.Fatalf("exit %d, want 2\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "could not run") || !strings.Contains(stderr, "no manager subcommand") {
		t.Errorf("stderr does not explain:\n%s", stderr)
	}
	var run reports.Run
	if err := json.Unmarshal([]byte(stdout), &run); err != nil {
		t.Fatalf("--json stdout is not the run: %v\n%s", err, stdout)
	}
}
