package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/cluster/kind"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/mutation"
	"github.com/faultline/faultline/scenarios"
)

const mutationSynopsis = `mutation [flags]

Proves that each seed and integrity scenario catches the bug it was written
for: runs every such scenario once against a clean refengine and once with
the refengine defect switch that re-introduces that bug (each run is
a 'faultline run' of its own, with its own local cluster and report
directory; with --cluster kind, each run deploys refengine afresh on the one
kind cluster, which stays up between runs and afterwards), then prints the matrix scenario × {clean, with defect} with the
checker that caught each defect and the time to detection, and writes it
to OUT/mutation.json.

Exit status: 0 every clean run passed and every defect run failed through a
checker (not a spec timeout), 1 otherwise, 2 could not run.`

// mutationFlags are the flags of `faultline mutation`.
type mutationFlags struct {
	refengine  string
	repeat     int
	iterations int
	out        string
	seed       int64
	nodes      int
	scenario   string
	defect     string
	timeout    time.Duration
	asJSON     bool
	params     runParams
	cluster    string
	kind       kind.Config
}

func mutationCmd(args []string, stdout, stderr io.Writer) int {
	var f mutationFlags
	fs := newFlagSet("mutation", mutationSynopsis, stderr)
	fs.StringVar(&f.refengine, "refengine", "", "refengine binary (default $FAULTLINE_REFENGINE, then refengine or bin/refengine next to faultline, then PATH)")
	fs.IntVar(&f.repeat, "repeat", 1, "run each scenario × variant N times, with seeds SEED..SEED+N-1 (flakiness)")
	fs.IntVar(&f.iterations, "iterations", 0, "loop count for loop scenarios (0: each scenario's default)")
	fs.StringVar(&f.out, "out", "", "output directory (default runs/mutation-<UTC timestamp>)")
	fs.Int64Var(&f.seed, "seed", 0, "seed of the first repetition; 0 picks one and prints it")
	fs.IntVar(&f.nodes, "nodes", 3, "number of storage nodes of each local cluster")
	fs.StringVar(&f.scenario, "scenario", "", "run only this scenario (one of the mutation table's)")
	fs.StringVar(&f.defect, "defect", "", "run only the rows of this defect switch (e.g. a rate row's)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "timeout of each run")
	fs.BoolVar(&f.asJSON, "json", false, "print mutation.json on stdout at the end; progress goes to stderr")
	f.params.backupTargetFlag(fs)
	f.params.restoreRateFlag(fs)
	fs.StringVar(&f.cluster, "cluster", "local", "cluster driver of the runs: local or kind")
	kindFlags(fs, &f.kind)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cases, err := f.validate(fs.NArg(), fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "faultline mutation:", err)
		return exitNotRun
	}
	if f.cluster == "local" && f.refengine == "" {
		if f.refengine, err = local.FindRefengine(); err != nil {
			fmt.Fprintln(stderr, "faultline mutation:", err)
			return exitNotRun
		}
	}
	if f.refengine != "" {
		if f.refengine, err = filepath.Abs(f.refengine); err != nil {
			fmt.Fprintln(stderr, "faultline mutation:", err)
			return exitNotRun
		}
	}
	runArgs, nodes := f.params.args(), f.nodes
	if f.cluster == "kind" {
		runArgs, nodes = append(runArgs, kindRunArgs(f.kind)...), 0
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "faultline mutation: cannot find my own binary:", err)
		return exitNotRun
	}
	if f.out == "" {
		f.out = filepath.Join("runs", "mutation-"+time.Now().UTC().Format("20060102-150405"))
	}
	if f.seed == 0 {
		f.seed = time.Now().UnixNano() % 1_000_000_000
	}
	progress := stdout
	if f.asJSON {
		progress = stderr
	}
	fmt.Fprintf(progress, "faultline mutation: %d scenarios × {clean, defect} × %d, seed %d, output %s\n", len(cases), f.repeat, f.seed, f.out)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := mutation.Run(ctx, mutation.Config{
		Faultline: self, Refengine: f.refengine, Out: f.out, Cases: cases, Repeat: f.repeat,
		Iterations: f.iterations, Seed: f.seed, Nodes: nodes, RunTimeout: f.timeout, Progress: progress,
		BackupTarget: f.params.backupTarget, RunArgs: runArgs,
	})
	fmt.Fprintln(progress)
	m.Print(progress)
	fmt.Fprintf(progress, "matrix: %s\n", filepath.Join(f.out, mutation.File))
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(m)
	}
	if err != nil {
		fmt.Fprintln(stderr, "faultline mutation:", err)
		return exitNotRun
	}
	for _, r := range m.Results {
		if r.Outcome == mutation.NotRun {
			return exitNotRun
		}
	}
	if !m.OK {
		return exitFail
	}
	return exitPass
}

// validate checks the flags and returns the cases to run.
func (f *mutationFlags) validate(narg int, rest []string) ([]mutation.Case, error) {
	if narg > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only)", rest[0])
	}
	if err := f.params.check(); err != nil {
		return nil, err
	}
	if f.repeat < 1 || f.repeat > 1000 {
		return nil, fmt.Errorf("--repeat %d: want 1..1000", f.repeat)
	}
	if f.iterations < 0 {
		return nil, fmt.Errorf("--iterations %d: want >= 0", f.iterations)
	}
	if f.seed < 0 {
		return nil, fmt.Errorf("--seed %d: want a non-negative seed", f.seed)
	}
	if f.nodes < 1 || f.nodes > 200 {
		return nil, fmt.Errorf("--nodes %d: want 1..200", f.nodes)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: want a positive duration", f.timeout)
	}
	switch f.cluster {
	case "local":
	case "kind":
		if f.refengine != "" {
			return nil, errors.New("--refengine is for --cluster local; on kind refengine runs from --refengine-image")
		}
		if _, err := kind.New(f.kind); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("--cluster %q: want local or kind", f.cluster)
	}
	if f.refengine != "" {
		if st, err := os.Stat(f.refengine); err != nil {
			return nil, fmt.Errorf("--refengine: %w", err)
		} else if st.IsDir() {
			return nil, fmt.Errorf("--refengine %s: is a directory", f.refengine)
		}
	}
	known := map[string]bool{}
	for _, e := range scenarios.Catalogue() {
		known[e.Name] = true
	}
	var cases, missing []mutation.Case
	for _, c := range mutation.Cases() {
		if (f.scenario != "" && c.Scenario != f.scenario) || (f.defect != "" && c.Defect != f.defect) {
			continue
		}
		if !known[c.Scenario] {
			missing = append(missing, c)
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		var names []string
		for _, c := range mutation.Cases() {
			names = append(names, c.Scenario)
		}
		if f.defect != "" {
			return nil, fmt.Errorf("--scenario %q --defect %q: no such row of the mutation table", f.scenario, f.defect)
		}
		return nil, fmt.Errorf("--scenario %q: not a seed scenario (have: %s)", f.scenario, strings.Join(names, ", "))
	}
	if len(missing) > 0 {
		return nil, errors.New("the mutation table names scenario " + missing[0].Scenario + ", which this faultline binary does not have")
	}
	return cases, nil
}
