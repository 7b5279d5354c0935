package mutation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/faultline/faultline/reports"
)

// Config is what a mutation run is told.
type Config struct {
	// Faultline is the faultline binary; each run is a `faultline run`
	// process of its own (Ginkgo runs one suite per process).
	Faultline string
	// Refengine is passed to every run as --refengine.
	Refengine string
	// Out is the directory for mutation.json and one report directory per
	// run (<scenario>/<variant>-<attempt>).
	Out string
	// Cases to run; nil means Cases().
	Cases []Case
	// Repeat runs each scenario × variant this many times (≥ 1).
	Repeat int
	// Iterations is passed as --iterations when positive.
	Iterations int
	// Seed of the first attempt; attempt k uses Seed+k-1, so repeats
	// cover different fault schedules and a seed reproduces all of them.
	Seed int64
	// Nodes of each local cluster (0: faultline's default).
	Nodes int
	// RunTimeout bounds each run (passed as --timeout; the process is
	// stopped a minute after it).
	RunTimeout time.Duration
	// Progress receives one line per run (nil: nothing).
	Progress io.Writer
	// BackupTarget is the run's --backup-target, recorded in the matrix
	// ("" when not given); RunArgs pass it and the other run parameters
	// (--restore-rate-limit) to every run.
	BackupTarget string
	RunArgs      []string
}

// Run runs every case's clean and defect variant Repeat times, writes
// mutation.json into cfg.Out and returns the matrix. An error means the
// matrix could not be produced at all (bad config, unwritable output).
func Run(ctx context.Context, cfg Config) (Matrix, error) {
	if cfg.Faultline == "" {
		return Matrix{}, errors.New("mutation: no faultline binary")
	}
	if cfg.Out == "" {
		return Matrix{}, errors.New("mutation: no output directory")
	}
	if cfg.Repeat < 1 {
		cfg.Repeat = 1
	}
	if cfg.Cases == nil {
		cfg.Cases = Cases()
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = 30 * time.Minute
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return Matrix{}, fmt.Errorf("mutation output: %w", err)
	}
	m := Matrix{Started: time.Now().UTC(), Seed: cfg.Seed, Repeat: cfg.Repeat, Iterations: cfg.Iterations, BackupTarget: cfg.BackupTarget}
	cleanRun := map[string]bool{} // scenarios whose clean runs an earlier row made
	for _, c := range cfg.Cases {
		variants := []Variant{Clean, Defect}
		if cleanRun[c.Scenario] {
			variants = []Variant{Defect}
		}
		cleanRun[c.Scenario] = true
		for attempt := 1; attempt <= cfg.Repeat; attempt++ {
			for _, v := range variants {
				if ctx.Err() != nil {
					break
				}
				r := runOne(ctx, cfg, c, v, attempt)
				m.Results = append(m.Results, r)
				progress(cfg.Progress, r)
				m.Rows = Build(cfg.Cases, m.Results)
				m.OK = allOK(m.Rows)
				if err := m.Save(cfg.Out); err != nil {
					return m, err
				}
			}
		}
	}
	m.Finished = time.Now().UTC()
	m.Rows = Build(cfg.Cases, m.Results)
	m.OK = allOK(m.Rows) && ctx.Err() == nil
	if err := m.Save(cfg.Out); err != nil {
		return m, err
	}
	return m, ctx.Err()
}

// runOne runs one scenario once as a `faultline run` child process and
// classifies what its run.json says.
func runOne(ctx context.Context, cfg Config, c Case, v Variant, attempt int) Result {
	run := fmt.Sprintf("%s-%d", v, attempt)
	if c.Rate && v == Defect {
		run = fmt.Sprintf("%s-%d", c.Defect, attempt) // beside the first row's defect-N
	}
	dir := filepath.Join(cfg.Out, c.Scenario, run)
	seed := cfg.Seed + int64(attempt-1)
	res := Result{Scenario: c.Scenario, Variant: v, Attempt: attempt, Seed: seed, Dir: dir}
	if v == Defect {
		res.Defect = c.Defect
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Outcome, res.Reason = NotRun, err.Error()
		return res
	}
	args := []string{"run", "--scenario", c.Scenario, "--out", dir, "--seed", strconv.FormatInt(seed, 10),
		"--timeout", cfg.RunTimeout.String()}
	if cfg.Refengine != "" {
		args = append(args, "--refengine", cfg.Refengine)
	}
	if cfg.Iterations > 0 {
		args = append(args, "--iterations", strconv.Itoa(cfg.Iterations))
	}
	if cfg.Nodes > 0 {
		args = append(args, "--nodes", strconv.Itoa(cfg.Nodes))
	}
	args = append(args, cfg.RunArgs...)
	if v == Defect {
		args = append(args, "--defects", c.Defect)
	}
	exit, err := execRun(ctx, cfg, dir, args)
	if err != nil {
		res.Outcome, res.ExitCode, res.Reason = NotRun, exit, err.Error()
		return res
	}
	sc, err := scenarioOf(dir, c.Scenario)
	if err != nil && exit == 0 {
		exit = -1
	}
	out := classify(sc, exit)
	out.Scenario, out.Variant, out.Defect, out.Attempt, out.Seed, out.Dir = res.Scenario, res.Variant, res.Defect, attempt, seed, dir
	out.ExitCode = exit
	if out.Outcome == NotRun && err != nil {
		out.Reason = err.Error()
	}
	return out
}

// execRun runs faultline with its output in dir/faultline.log. It returns
// the exit status; err only when the process could not be started or
// waited for.
func execRun(ctx context.Context, cfg Config, dir string, args []string) (int, error) {
	logf, err := os.Create(filepath.Join(dir, "faultline.log"))
	if err != nil {
		return -1, fmt.Errorf("run log: %w", err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.RunTimeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.Faultline, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// On cancel, ask faultline to stop (it tears its cluster down), and
	// kill it only if it does not within the delay.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	fmt.Fprintf(logf, "$ %s %q\n", cfg.Faultline, args)
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), nil
	default:
		return -1, fmt.Errorf("faultline %s: %w", args[0], err)
	}
}

// scenarioOf loads the named scenario's record from dir/run.json.
func scenarioOf(dir, name string) (*reports.Scenario, error) {
	run, err := reports.Load(dir)
	if err != nil {
		return nil, err
	}
	for i := range run.Scenarios {
		if run.Scenarios[i].Name == name {
			return &run.Scenarios[i], nil
		}
	}
	return nil, fmt.Errorf("%s: no scenario %q in run.json", dir, name)
}

func progress(w io.Writer, r Result) {
	if w == nil {
		return
	}
	word := string(r.Outcome)
	if r.Outcome == Caught && r.Variant == Defect {
		word = "caught"
	}
	line := fmt.Sprintf("%s %-33s %-6s #%d seed %d: %s", time.Now().UTC().Format("15:04:05"), r.Scenario, r.Variant, r.Attempt, r.Seed, word)
	if r.Checker != "" {
		line += fmt.Sprintf(" by %s after %s", r.Checker, round(r.Detection))
	}
	if r.Duration > 0 {
		line += fmt.Sprintf(" (%s)", round(r.Duration))
	}
	if !r.OK() && r.Reason != "" {
		line += ": " + r.Reason
	}
	fmt.Fprintln(w, line)
}
