package bench

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testtool"
)

// TestRunBaseline runs the real harness against nbdkit with fio, twice
// per workload after a warm-up of a second, and a refengine target whose
// binary is missing, which must turn into error rows rather than stop the
// run (and leave the baseline measured on its own).
func TestRunBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs fio and nbdkit")
	}
	fio := testtool.Require(t, "fio", "fio")
	nbdkit := testtool.Require(t, "nbdkit", "nbdkit")
	rep, err := Run(t.Context(), Config{
		Refengine: "/nonexistent/refengine",
		Fio:       fio,
		Nbdkit:    nbdkit,
		Size:      16 << 20,
		Runtime:   time.Second,
		Warmup:    time.Second,
		Repeat:    2,
		Targets:   []string{Baseline, "refengine-lvol"},
		Jobs:      []string{JobFio},
		WorkDir:   t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := len(DefaultWorkloads())
	if len(rep.Results) != 2*n {
		t.Fatalf("results %+v, want 2 targets x %d workloads", rep.Results, n)
	}
	for _, r := range rep.Results[:n] {
		if r.Target != Baseline || r.Error != "" || r.MBps <= 0 || r.IOPS <= 0 || r.Ratio != 1 || len(r.Runs) != 2 {
			t.Errorf("baseline result %+v, want figures from 2 runs and ratio 1", r)
		}
		if r.MBpsMin > r.MBps || r.MBps > r.MBpsMax || r.WriteP99 <= 0 {
			t.Errorf("baseline result %+v: median outside its spread, or no write p99", r)
		}
	}
	for _, r := range rep.Results[n:] {
		if r.Target != "refengine-lvol" || !strings.Contains(r.Error, "refengine") || r.Ratio != 0 {
			t.Errorf("result %+v, want an error naming refengine", r)
		}
	}
	if rep.Host.LoadStart == nil || rep.Host.LoadEnd == nil {
		t.Errorf("host %+v lacks the load at start and end", rep.Host)
	}
	if rep.Host.FioVersion == "" || rep.Host.NbdkitVersion == "" {
		t.Errorf("host %+v lacks tool versions", rep.Host)
	}
}

func TestConfigRejects(t *testing.T) {
	tests := map[string]Config{
		"zero size":      {Size: 0, Runtime: time.Second},
		"unaligned size": {Size: 1<<20 + 1, Runtime: time.Second},
		"short runtime":  {Size: 1 << 20, Runtime: time.Millisecond},
		"unknown target": {Size: 1 << 20, Runtime: time.Second, Targets: []string{"nope"}},
		"fio missing":    {Size: 1 << 20, Runtime: time.Second, Fio: "/nonexistent/fio"},
		"nbdkit missing": {Size: 1 << 20, Runtime: time.Second, Fio: "true", Nbdkit: "/nonexistent/nbdkit"},
		"unknown job":    {Size: 1 << 20, Runtime: time.Second, Jobs: []string{"nope"}},
		"odd backup":     {Size: 1 << 20, Runtime: time.Second, Jobs: []string{JobBackup}, BackupSize: 3 << 20},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Run(t.Context(), cfg); err == nil {
				t.Fatal("Run succeeded, want an error")
			}
		})
	}
}

// TestRunRefengine builds refengine and runs the harness against a single
// lvol and a raid1 of a local and a remote lvol, each for a second: the
// node processes start, take their JSON-RPC configuration and serve fio.
// runRefengine runs cfg with a refengine built from this tree and fio,
// in a work directory of the test's; it skips in short mode.
func runRefengine(t *testing.T, cfg Config) Report {
	t.Helper()
	if testing.Short() {
		t.Skip("builds refengine and runs node processes with fio")
	}
	cfg.Fio = testtool.Require(t, "fio", "fio")
	dir := t.TempDir()
	bin, err := buildRefengine(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Refengine, cfg.WorkDir = bin, filepath.Join(dir, "work")
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRunRefengine(t *testing.T) {
	rep := runRefengine(t, Config{
		Size:    16 << 20,
		Runtime: time.Second,
		Targets: []string{"refengine-lvol", "refengine-raid1x2"},
		Jobs:    []string{JobFio},
	})
	if n := len(DefaultWorkloads()); len(rep.Results) != 2*n {
		t.Fatalf("results %+v, want 2 targets x %d workloads", rep.Results, n)
	}
	for _, r := range rep.Results {
		if r.Error != "" || r.MBps <= 0 || r.IOPS <= 0 {
			t.Errorf("%s/%s: %+v, want figures", r.Target, r.Workload, r)
		}
		if r.Ratio != 0 {
			t.Errorf("%s/%s: ratio %v without a baseline run", r.Target, r.Workload, r.Ratio)
		}
	}
}
