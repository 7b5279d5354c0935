package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/faultline/faultline/cluster/kind"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/scenarios"
)

const runSynopsis = `run [flags]

Brings up a cluster (default: a local one of real refengine processes on
127.0.0.x), runs the selected scenarios in-process with Ginkgo, prints a line
per spec and step while they run and a summary table at the end, and writes
the report directory (run.json, junit.xml, ginkgo.json, report.html, the
cluster's logs under cluster/logs/).

Exit status: 0 every selected scenario passed, 1 one failed, 2 could not run.`

// runFlags are the flags of `faultline run`.
type runFlags struct {
	cluster     string
	clusterDir  string
	labelFilter string
	scenario    string
	seed        int64
	repeat      int
	defects     string
	out         string
	keepCluster bool
	nodes       int
	refengine   string
	iterations  int
	asJSON      bool
	timeout     time.Duration
	verbose     bool
	diskSize    int64
	// disksPerNode 0 means what the selected scenarios need (at least 1).
	disksPerNode int
	params       runParams
	kind         kind.Config
	// soak is set by faultline soak: the run is the soak scenario alone,
	// configured by it.
	soak *scenarios.SoakConfig
}

// diskSizeFlag registers --disk-size (default $FAULTLINE_DISK_SIZE) on fs.
func diskSizeFlag(fs *flag.FlagSet, dst *int64) {
	if v := os.Getenv("FAULTLINE_DISK_SIZE"); v != "" {
		if n, err := scenarios.ParseDiskSize(v); err == nil {
			*dst = n
		}
	}
	fs.Func("disk-size", "`SIZE` in bytes of every node disk of the local cluster, e.g. 512M or 1G (default 1G, or $FAULTLINE_DISK_SIZE); a multiple of 1 MiB", func(v string) error {
		n, err := scenarios.ParseDiskSize(v)
		*dst = n
		return err
	})
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	var f runFlags
	fs := newFlagSet("run", runSynopsis, stderr)
	fs.StringVar(&f.cluster, "cluster", "local", "cluster driver: local (processes on this machine) or kind")
	fs.StringVar(&f.clusterDir, "cluster-dir", os.Getenv("FAULTLINE_CLUSTER_DIR"), "use the cluster in `DIR`, started by faultline cluster up --dir DIR, instead of starting one (env FAULTLINE_CLUSTER_DIR)")
	fs.StringVar(&f.labelFilter, "label-filter", "", "Ginkgo label filter, e.g. 'smoke' or 'seed && !nightly' (labels: "+strings.Join(scenarios.KnownLabels(), ", ")+")")
	fs.StringVar(&f.scenario, "scenario", "", "run only the named scenario (see faultline list)")
	fs.Int64Var(&f.seed, "seed", 0, "seed for fault schedules, workloads and spec order; 0 picks one and prints it")
	fs.IntVar(&f.repeat, "repeat", 1, "run each selected scenario N times; all must pass (Ginkgo MustPassRepeatedly)")
	fs.StringVar(&f.defects, "defects", "", "comma-separated refengine defect switches to enable on every refengine process")
	fs.StringVar(&f.out, "out", "", "report directory (default runs/<UTC timestamp>, with runs/latest pointing at it)")
	fs.BoolVar(&f.keepCluster, "keep-cluster", false, "leave the cluster running afterwards; stop it with faultline cluster down --dir OUT/cluster")
	fs.IntVar(&f.nodes, "nodes", 3, "number of storage nodes of the local cluster")
	fs.StringVar(&f.refengine, "refengine", "", "refengine binary (default $FAULTLINE_REFENGINE, then refengine or bin/refengine next to faultline, then PATH)")
	fs.IntVar(&f.iterations, "iterations", 0, "loop count for loop scenarios (0: each scenario's default)")
	fs.BoolVar(&f.asJSON, "json", false, "print the run (run.json) on stdout at the end; progress goes to stderr")
	fs.DurationVar(&f.timeout, "timeout", time.Hour, "timeout of the whole run")
	fs.BoolVar(&f.verbose, "v", false, "verbose Ginkgo output (every By and report entry)")
	diskSizeFlag(fs, &f.diskSize)
	fs.IntVar(&f.disksPerNode, "disks-per-node", 0, "disks of every node, 1..8 (default: what the selected scenarios need, at least 1)")
	f.params.backupTargetFlag(fs)
	f.params.restoreRateFlag(fs)
	kindFlags(fs, &f.kind)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := f.validate(fs); err != nil {
		fmt.Fprintln(stderr, "faultline run:", err)
		return exitNotRun
	}
	return start("run", f, stdout, stderr)
}

// start finds refengine, prepares the report directory and executes the
// run; cmd names the subcommand in messages.
func start(cmd string, f runFlags, stdout, stderr io.Writer) int {
	if f.cluster == "local" && f.clusterDir == "" && f.refengine == "" {
		p, err := local.FindRefengine()
		if err != nil {
			fmt.Fprintf(stderr, "faultline %s: %v\n", cmd, err)
			return exitNotRun
		}
		f.refengine = p
	}
	out, err := prepareOut(f.out)
	if err != nil {
		fmt.Fprintf(stderr, "faultline %s: %v\n", cmd, err)
		return exitNotRun
	}
	return execute(f, out, stdout, stderr)
}

func (f *runFlags) validate(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if err := f.params.check(); err != nil {
		return err
	}
	if f.cluster != "local" && f.cluster != "kind" {
		return fmt.Errorf("--cluster %q: want local or kind", f.cluster)
	}
	if f.cluster == "kind" {
		if f.clusterDir != "" {
			return errors.New("--cluster-dir names a local cluster; it cannot be used with --cluster kind")
		}
		if _, err := kind.New(f.kind); err != nil {
			return err
		}
	}
	if f.labelFilter != "" {
		if _, err := types.ParseLabelFilter(f.labelFilter); err != nil {
			return fmt.Errorf("--label-filter %q: %s", f.labelFilter, plainError(err))
		}
	}
	if f.scenario != "" {
		known := false
		var names []string
		for _, e := range scenarios.Catalogue() {
			names = append(names, e.Name)
			known = known || e.Name == f.scenario
		}
		if !known {
			return fmt.Errorf("--scenario %q: no such scenario (have: %s)", f.scenario, strings.Join(names, ", "))
		}
	}
	if f.seed < 0 {
		return fmt.Errorf("--seed %d: want a non-negative seed", f.seed)
	}
	if f.repeat < 1 || f.repeat > 10000 {
		return fmt.Errorf("--repeat %d: want 1..10000", f.repeat)
	}
	if f.nodes < 1 || f.nodes > 200 {
		return fmt.Errorf("--nodes %d: want 1..200", f.nodes)
	}
	if f.disksPerNode < 0 || f.disksPerNode > 8 {
		return fmt.Errorf("--disks-per-node %d: want 1..8", f.disksPerNode)
	}
	if f.iterations < 0 {
		return fmt.Errorf("--iterations %d: want >= 0", f.iterations)
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout %v: want a positive duration", f.timeout)
	}
	for _, d := range scenarios.SplitList(f.defects) {
		if !validDefect(d) {
			return fmt.Errorf("--defects: %q is not a defect name (lowercase letters, digits and dashes)", d)
		}
	}
	if f.refengine != "" {
		if st, err := os.Stat(f.refengine); err != nil {
			return fmt.Errorf("--refengine: %w", err)
		} else if st.IsDir() {
			return fmt.Errorf("--refengine %s: is a directory", f.refengine)
		}
	}
	return nil
}

func validDefect(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// prepareOut creates the report directory; the default is
// runs/<timestamp>, and runs/latest then points at it.
func prepareOut(out string) (string, error) {
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", fmt.Errorf("--out: %w", err)
		}
		return filepath.Abs(out)
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	dir := filepath.Join("runs", stamp)
	for i := 2; ; i++ {
		err := os.MkdirAll(filepath.Dir(dir), 0o755)
		if err == nil {
			err = os.Mkdir(dir, 0o755)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("report directory: %w", err)
		}
		dir = filepath.Join("runs", fmt.Sprintf("%s-%d", stamp, i))
	}
	latest := filepath.Join("runs", "latest")
	tmp := latest + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(dir), tmp); err == nil {
		os.Rename(tmp, latest)
	}
	return filepath.Abs(dir)
}

// testingT is the GinkgoTestingT of an in-process run: Ginkgo calls Fail
// when the suite fails.
type testingT struct {
	mu     sync.Mutex
	failed bool
}

func (t *testingT) Fail() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
}

func execute(f runFlags, out string, stdout, stderr io.Writer) int {
	progress := stdout
	restore := func() {}
	if f.asJSON {
		progress = stderr
		// Ginkgo's reporter writes to file descriptor 1; keep stdout
		// for the JSON document by pointing fd 1 at stderr meanwhile.
		saved, err := syscall.Dup(1)
		if err == nil && syscall.Dup2(2, 1) == nil {
			var once sync.Once
			restore = func() {
				once.Do(func() {
					syscall.Dup2(saved, 1)
					syscall.Close(saved)
				})
			}
			defer restore()
		}
	}
	var (
		run       reports.Run
		reportErr error
		gotReport bool
	)
	cfg := &scenarios.Config{
		Seed:             f.seed,
		Iterations:       f.iterations,
		ClusterDir:       f.clusterDir,
		ClusterKind:      f.cluster,
		Kind:             f.kind,
		Refengine:        f.refengine,
		Nodes:            f.nodes,
		DiskSize:         f.diskSize,
		DisksPerNode:     f.disksPerNode,
		Defects:          scenarios.SplitList(f.defects),
		OutDir:           out,
		KeepCluster:      f.keepCluster,
		Progress:         progress,
		FaultlineVersion: version(),
		OnReport: func(r reports.Run, err error) {
			run, reportErr, gotReport = r, err, true
		},
	}
	if f.soak != nil {
		cfg.Soak = *f.soak
	}
	f.params.apply(cfg)
	if need, err := scenarios.DisksNeeded(f.labelFilter, f.scenario); err == nil && need > cfg.DisksPerNode {
		cfg.DisksPerNode = need
	}
	env := scenarios.Register(cfg)
	cfg.Command = reproduceRun(f, cfg.Seed)
	if f.soak != nil {
		cfg.Command = scenarios.SoakCommand(cfg, cfg.Seed) + scenarios.RunParams(cfg)
	}

	sc := types.NewDefaultSuiteConfig()
	sc.RandomSeed = cfg.Seed
	sc.LabelFilter = scenarios.LabelFilter(f.labelFilter, f.scenario)
	if f.scenario != "" {
		sc.FocusStrings = []string{scenarios.FocusFor(f.scenario)}
	}
	if f.repeat > 1 {
		sc.MustPassRepeatedly = f.repeat
	}
	sc.Timeout = f.timeout
	sc.PollProgressAfter = 2 * time.Minute
	rc := types.NewDefaultReporterConfig()
	rc.Succinct = !f.verbose
	rc.Verbose = f.verbose
	rc.NoColor = !isTerminal(progress)

	t := &testingT{}
	cmd := "run"
	if f.soak != nil {
		cmd = "soak"
	}
	fmt.Fprintf(progress, "faultline %s: report directory %s\n", cmd, out)
	ginkgo.RunSpecs(t, "faultline", sc, rc)
	restore()

	if err := env.SetupError(); err != nil {
		fmt.Fprintln(stderr, "faultline "+cmd+": could not run:", err)
		if gotReport {
			printSummary(progress, run)
			if f.asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				enc.Encode(run)
			}
		}
		return exitNotRun
	}
	if !gotReport {
		fmt.Fprintln(stderr, "faultline "+cmd+": the suite ended without a report")
		return exitNotRun
	}
	printSummary(progress, run)
	if reportErr != nil {
		fmt.Fprintln(stderr, "faultline "+cmd+": writing the report:", reportErr)
	} else {
		fmt.Fprintf(progress, "report: %s\n", filepath.Join(out, "report.html"))
	}
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(run)
	}
	t.mu.Lock()
	failed := t.failed
	t.mu.Unlock()
	if failed || !run.Passed() {
		return exitFail
	}
	return exitPass
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// reproduceRun is the command line that reruns this run with its seed.
func reproduceRun(f runFlags, seed int64) string {
	parts := []string{"faultline", "run", "--seed", fmt.Sprint(seed)}
	if f.cluster == "kind" {
		parts = append(parts, "--cluster", "kind", "--kind-node-image", shellQuote(f.kind.NodeImage), "--refengine-image", shellQuote(f.kind.RefengineImage))
		if f.kind.ChaosExecutor != "" && f.kind.ChaosExecutor != kind.ExecutorAuto {
			parts = append(parts, "--chaos-executor", f.kind.ChaosExecutor)
		}
	}
	if f.scenario != "" {
		parts = append(parts, "--scenario", f.scenario)
	}
	if f.labelFilter != "" {
		parts = append(parts, "--label-filter", shellQuote(f.labelFilter))
	}
	if f.defects != "" {
		parts = append(parts, "--defects", f.defects)
	}
	if f.nodes != 3 {
		parts = append(parts, "--nodes", fmt.Sprint(f.nodes))
	}
	if f.iterations > 0 {
		parts = append(parts, "--iterations", fmt.Sprint(f.iterations))
	}
	if f.repeat > 1 {
		parts = append(parts, "--repeat", fmt.Sprint(f.repeat))
	}
	if f.diskSize > 0 {
		parts = append(parts, "--disk-size", fmt.Sprint(f.diskSize))
	}
	if f.disksPerNode > 0 {
		parts = append(parts, "--disks-per-node", fmt.Sprint(f.disksPerNode))
	}
	var cfg scenarios.Config
	f.params.apply(&cfg)
	return strings.Join(parts, " ") + scenarios.RunParams(&cfg)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printSummary prints one row per scenario.
func printSummary(w io.Writer, run reports.Run) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRESULT\tDURATION\tFAILED CHECKER")
	for _, sc := range run.Scenarios {
		failing := sc.FailingChecker()
		if failing == "" {
			failing = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sc.Name, sc.State, sc.Duration().Round(10*time.Millisecond), failing)
	}
	tw.Flush()
	s := run.Summary
	fmt.Fprintf(w, "\n%d scenarios: %d passed, %d failed, %d skipped, %d interrupted (seed %d)\n",
		s.Total, s.Passed, s.Failed, s.Skipped, s.Interrupted, run.Seed)
	if len(run.Notes) > 0 {
		fmt.Fprintln(w, "notes:", strings.Join(run.Notes, "; "))
	}
}

// ansi matches terminal colour escapes, which Ginkgo puts in its errors.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m|\\{\\{/?[a-z]*\\}\\}")

// plainError renders a Ginkgo error as one plain line.
func plainError(err error) string {
	var ge types.GinkgoError
	msg := err.Error()
	if errors.As(err, &ge) {
		msg = ge.Heading + ": " + ge.Message
	}
	return strings.Join(strings.Fields(ansi.ReplaceAllString(msg, "")), " ")
}
