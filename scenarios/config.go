// Package scenarios holds faultline's Ginkgo v2 suites and the harness they
// share: suite setup that brings a cluster up (or attaches to one), the run
// seed, a per-spec timeline and fault injector, faults healed in cleanup,
// report entries for the reports package, and the report directory written
// after the suite. The specs are ordinary non-test code so that they compile
// into the faultline binary; scenarios_suite_test.go runs the same specs
// under `go test ./scenarios/...`.
package scenarios

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/reports"
)

// Config is what a run of the scenarios is told. The CLI fills it from
// flags; tests fill it from FAULTLINE_* environment variables (FromEnv).
type Config struct {
	// Seed drives every random choice of the scenarios (fault schedule,
	// workload); 0 means pick one at random (and print it).
	Seed int64
	// Iterations is the loop count of loop scenarios (0 = each scenario's
	// default).
	Iterations int
	// ClusterDir, when set, is the run directory of a cluster started by
	// `faultline cluster up`; the suite uses it instead of starting one.
	ClusterDir string
	// Refengine is the refengine binary for the local cluster.
	Refengine string
	Nodes     int
	Defects   []string
	// OutDir is the report directory (required to write reports).
	OutDir string
	// KeepCluster leaves the cluster running after the suite.
	KeepCluster bool
	// Command is the command line that reproduces the whole run; scenario
	// reproduce commands are derived from it.
	Command string
	// Progress receives one line per spec and step with elapsed time
	// (nil: nothing is printed).
	Progress io.Writer
	// OnReport is called with the run after the report directory is
	// written (or with the write error).
	OnReport func(reports.Run, error)
	// SkipWithoutCluster turns "refengine cannot run a cluster yet" into a
	// skipped suite instead of a failure (go test, while the control plane
	// is being built).
	SkipWithoutCluster bool
	// Versions of the code under test, for run.json.
	FaultlineVersion string
}

// FromEnv reads FAULTLINE_SEED, FAULTLINE_ITERATIONS, FAULTLINE_CLUSTER_DIR,
// FAULTLINE_REFENGINE, FAULTLINE_NODES, FAULTLINE_DEFECTS (comma list),
// FAULTLINE_OUT and FAULTLINE_KEEP_CLUSTER.
func FromEnv() (Config, error) {
	var c Config
	var err error
	if v := os.Getenv("FAULTLINE_SEED"); v != "" {
		if c.Seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			return c, fmt.Errorf("FAULTLINE_SEED: %w", err)
		}
	}
	if v := os.Getenv("FAULTLINE_ITERATIONS"); v != "" {
		if c.Iterations, err = strconv.Atoi(v); err != nil || c.Iterations < 0 {
			return c, fmt.Errorf("FAULTLINE_ITERATIONS: want a count >= 0, got %q", v)
		}
	}
	if v := os.Getenv("FAULTLINE_NODES"); v != "" {
		if c.Nodes, err = strconv.Atoi(v); err != nil || c.Nodes < 1 {
			return c, fmt.Errorf("FAULTLINE_NODES: want a count >= 1, got %q", v)
		}
	}
	if v := os.Getenv("FAULTLINE_KEEP_CLUSTER"); v != "" {
		if c.KeepCluster, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("FAULTLINE_KEEP_CLUSTER: %w", err)
		}
	}
	c.ClusterDir = os.Getenv("FAULTLINE_CLUSTER_DIR")
	c.Refengine = os.Getenv("FAULTLINE_REFENGINE")
	c.OutDir = os.Getenv("FAULTLINE_OUT")
	c.Defects = SplitList(os.Getenv("FAULTLINE_DEFECTS"))
	return c, nil
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// iterations returns c.Iterations or def.
func (c *Config) iterations(def int) int {
	if c.Iterations > 0 {
		return c.Iterations
	}
	return def
}

// seedNow picks a seed when none was given.
func pickSeed() int64 { return time.Now().UnixNano() % 1_000_000_000 }
