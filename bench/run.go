package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/gobuild"
)

// Baseline is the target the others are compared with.
const Baseline = "nbdkit-file"

// Config is one benchmark run.
type Config struct {
	// Refengine is the refengine binary; empty builds cmd/refengine into
	// the work directory (the current directory must be in the module).
	Refengine string
	// Fio and Nbdkit are the programs to run.
	Fio, Nbdkit string
	// Size is the bytes each job spans (the file and lvol size).
	Size int64
	// Runtime is how long each job runs (fio's time_based runtime).
	Runtime time.Duration
	// Warmup is how long the unmeasured fio run before each measured one
	// runs; 0 runs none, otherwise at least 1s (fio counts seconds).
	Warmup time.Duration
	// Repeat is how many measured runs each target gets under each
	// workload (each after its own baseline run); 0 means 1.
	Repeat int
	// Targets to run, by name; empty runs all (see TargetNames).
	Targets []string
	// Workloads to run on each target; empty runs DefaultWorkloads.
	Workloads []Workload
	// WorkDir holds files, sockets and logs; empty makes a temporary one.
	WorkDir string
	// Keep leaves the work directory in place.
	Keep bool
	// Jobs are the benchmarks to run, of JobNames(); empty runs them all.
	Jobs []string
	// BackupSize is the volume the backup benchmark backs up (1 GiB when
	// 0); a positive multiple of the backup block, 2 MiB.
	BackupSize int64
	// Versitygw is the S3 server of the backup benchmark's S3 target;
	// empty looks for it (versitygw.Find), and the S3 rows are skipped when
	// there is none.
	Versitygw string
	// MemoryDuration is how long the memory benchmark keeps its three
	// volumes under load (MemoryDuration when 0), and MemoryInterval how
	// often it samples the nodes' resident set size (MemoryInterval when
	// 0); the run must give at least eight samples.
	MemoryDuration, MemoryInterval time.Duration
	// Nbdcopy is the second baseline of the file target ("nbdcopy" when
	// empty); its row is skipped when it is not installed.
	Nbdcopy string
	// Log receives progress; nil discards.
	Log *slog.Logger
}

// target brings an NBD export up and returns its URI. Whatever it starts
// it registers with env.defer_.
type target struct {
	name  string
	start func(context.Context, *env) (string, error)
}

func targets() []target {
	return []target{
		{Baseline, startNbdkit},
		{"refengine-lvol", startLvol},
		{"refengine-raid1x2", startRaid(2)},
		{"refengine-raid1x3", startRaid(3)},
		{"refengine-engine-x2", startEngineRaid(true)},
		{"refengine-engine-x2-nobitmap", startEngineRaid(false)},
	}
}

// The benchmarks a run is made of.
const (
	// JobFio runs fio against every selected target (Targets).
	JobFio = "fio"
	// JobResync measures resync after an engine crash (runResync).
	JobResync = "resync"
	// JobBackup measures backup and restore throughput (runBackup).
	JobBackup = "backup"
	// JobMemory samples the resident set size of a node serving three
	// volumes under load for ten minutes (runMemory); it runs only when
	// asked for.
	JobMemory = "memory"
)

// JobNames lists the benchmarks in the order they run.
func JobNames() []string { return []string{JobFio, JobResync, JobBackup, JobMemory} }

// DefaultJobs are the benchmarks a run without Config.Jobs runs: all but
// the ten-minute memory benchmark.
func DefaultJobs() []string { return []string{JobFio, JobResync, JobBackup} }

// TargetNames lists the targets in the order they run.
func TargetNames() []string {
	var names []string
	for _, t := range targets() {
		names = append(names, t.name)
	}
	return names
}

// env is the state of one run: its directory, the processes it started
// and what to undo at the end.
type env struct {
	cfg      Config
	dir      string
	log      *slog.Logger
	nodes    map[string]*node
	nodeErrs map[string]error
	cleanups []func()
	// buildErr is why there is no refengine binary, if there is none.
	buildErr error
	// seq numbers engine processes.
	seq int
}

// defer_ registers fn to run when the run ends, last registered first.
func (e *env) defer_(fn func()) { e.cleanups = append(e.cleanups, fn) }

func (e *env) cleanup() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

// Run measures every selected target under every workload, in one go, and
// returns the report. A target that cannot start gets results carrying the
// error rather than stopping the run; Run's own error is for a run that
// could not happen at all (bad config, missing fio).
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.fill(); err != nil {
		return Report{}, err
	}
	rep := Report{
		Started:  time.Now().UTC(),
		Runtime:  cfg.Runtime.String(),
		Size:     cfg.Size,
		Baseline: Baseline,
		Work:     cfg.Workloads,
		Host: Host{
			CPUs:          runtime.NumCPU(),
			GoVersion:     runtime.Version(),
			FioVersion:    version(ctx, cfg.Fio, "--version"),
			NbdkitVersion: version(ctx, cfg.Nbdkit, "--version"),
		},
	}
	e := &env{cfg: cfg, log: cfg.Log, nodes: map[string]*node{}, nodeErrs: map[string]error{}}
	rep.Host.LoadStart = e.readLoad("start")
	var err error
	if e.dir, err = workDir(cfg); err != nil {
		return Report{}, err
	}
	defer func() {
		e.cleanup()
		if !cfg.Keep && cfg.WorkDir == "" {
			os.RemoveAll(e.dir)
		}
	}()
	fio, resync, backup, memory := slices.Contains(cfg.Jobs, JobFio), slices.Contains(cfg.Jobs, JobResync),
		slices.Contains(cfg.Jobs, JobBackup), slices.Contains(cfg.Jobs, JobMemory)
	if e.cfg.Refengine == "" && ((fio && needsRefengine(cfg.Targets)) || resync || backup || memory) {
		e.cfg.Refengine, e.buildErr = buildRefengine(ctx, e.dir)
		if e.buildErr != nil {
			e.log.Warn("refengine targets will fail", "err", e.buildErr)
		}
	}
	if fio {
		var ts []target
		for _, t := range targets() {
			if slices.Contains(cfg.Targets, t.name) {
				ts = append(ts, t)
			}
		}
		start := func(ctx context.Context, t target) (string, error) {
			e.log.Info("starting target", "target", t.name)
			return t.start(ctx, e)
		}
		rep.Results = measurePairs(ctx, ts, cfg.Workloads, cfg.Repeat, start, e.measure)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if resync {
		rep.Resync = e.runResync(ctx)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if backup {
		rep.Backup = e.runBackup(ctx)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if memory {
		rep.Memory = e.runMemory(ctx)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.Host.LoadEnd = e.readLoad("end")
	return rep, nil
}

// readLoad reads and logs the load average; nil when there is none to read
// (not Linux), which the report then says.
func (e *env) readLoad(when string) *Load {
	l, err := ReadLoad()
	if err != nil {
		e.log.Warn("load average unknown", "at", when, "err", err)
		return nil
	}
	e.log.Info("load average", "at", when, "1min", l.One, "5min", l.Five, "15min", l.Fifteen,
		"runnable", l.Running, "tasks", l.Tasks, "cpus", runtime.NumCPU())
	return &l
}

// measure runs w on the export at uri: first a warm-up run of
// Config.Warmup, whose figures are dropped (it fills the target's caches
// and connection pools, and wakes CPUs from idle states, which the first
// seconds of a run would otherwise pay for), then the measured run.
func (e *env) measure(ctx context.Context, target, uri string, w Workload) (FioResult, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Warmup+e.cfg.Runtime+2*time.Minute)
	defer cancel()
	if e.cfg.Warmup > 0 {
		e.log.Info("warming up", "target", target, "workload", w.Name, "runtime", e.cfg.Warmup)
		if _, err := RunFio(ctx, e.cfg.Fio, FioArgs(w, uri, e.cfg.Size, e.cfg.Warmup)); err != nil {
			return FioResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	e.log.Info("running fio", "target", target, "workload", w.Name, "uri", uri, "runtime", e.cfg.Runtime)
	res, err := RunFio(ctx, e.cfg.Fio, FioArgs(w, uri, e.cfg.Size, e.cfg.Runtime))
	if err != nil {
		e.log.Info("fio failed", "target", target, "workload", w.Name, "err", err)
		return FioResult{}, err
	}
	e.log.Info("fio done", "target", target, "workload", w.Name, "MB/s", fmt.Sprintf("%.1f", res.MBps()),
		"IOPS", fmt.Sprintf("%.0f", res.IOPS()), "write p99", res.WriteP99)
	return res, nil
}

func (c *Config) fill() error {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Fio == "" {
		c.Fio = "fio"
	}
	if c.Nbdkit == "" {
		c.Nbdkit = "nbdkit"
	}
	if c.Size <= 0 || c.Size%(1<<20) != 0 {
		return fmt.Errorf("size %d: must be a positive multiple of 1 MiB", c.Size)
	}
	if c.Runtime < time.Second {
		return fmt.Errorf("runtime %s: must be at least 1s", c.Runtime)
	}
	if c.Warmup != 0 && c.Warmup < time.Second {
		return fmt.Errorf("warm-up %s: must be 0 or at least 1s", c.Warmup)
	}
	if c.Repeat == 0 {
		c.Repeat = 1
	}
	if c.Repeat < 0 {
		return fmt.Errorf("repeat %d: must be at least 1", c.Repeat)
	}
	if len(c.Jobs) == 0 {
		c.Jobs = DefaultJobs()
	}
	for _, j := range c.Jobs {
		if !slices.Contains(JobNames(), j) {
			return fmt.Errorf("unknown job %q (have %s)", j, strings.Join(JobNames(), ", "))
		}
	}
	if c.BackupSize == 0 {
		c.BackupSize = BackupSize
	}
	if c.BackupSize < 0 || c.BackupSize%blockSize != 0 {
		return fmt.Errorf("backup size %d: must be a positive multiple of %d", c.BackupSize, blockSize)
	}
	if slices.Contains(c.Jobs, JobMemory) {
		if err := c.checkMemory(); err != nil {
			return err
		}
	}
	if c.Nbdcopy == "" {
		c.Nbdcopy = "nbdcopy"
	}
	if len(c.Workloads) == 0 {
		c.Workloads = DefaultWorkloads()
	}
	all := TargetNames()
	if len(c.Targets) == 0 {
		c.Targets = all
	}
	for _, t := range c.Targets {
		if !slices.Contains(all, t) {
			return fmt.Errorf("unknown target %q (have %s)", t, strings.Join(all, ", "))
		}
	}
	if !slices.Contains(c.Jobs, JobFio) && !slices.Contains(c.Jobs, JobMemory) {
		return nil
	}
	if _, err := exec.LookPath(c.Fio); err != nil {
		return fmt.Errorf("fio: %w (install the Debian package fio)", err)
	}
	if slices.Contains(c.Jobs, JobFio) && slices.Contains(c.Targets, Baseline) {
		if _, err := exec.LookPath(c.Nbdkit); err != nil {
			return fmt.Errorf("nbdkit: %w (install the Debian package nbdkit)", err)
		}
	}
	return nil
}

func needsRefengine(targets []string) bool {
	return slices.ContainsFunc(targets, func(t string) bool { return t != Baseline })
}

func workDir(cfg Config) (string, error) {
	if cfg.WorkDir != "" {
		if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
			return "", fmt.Errorf("work directory: %w", err)
		}
		return cfg.WorkDir, nil
	}
	dir, err := os.MkdirTemp("", "refbench-")
	if err != nil {
		return "", fmt.Errorf("work directory: %w", err)
	}
	return dir, nil
}

// buildRefengine builds the refengine command into dir. The current
// directory must be inside the module.
func buildRefengine(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "refengine")
	if err := gobuild.Build(ctx, gobuild.Refengine, out); err != nil {
		return "", err
	}
	return out, nil
}

// version returns the first line a program prints for flag, or "".
func version(ctx context.Context, prog, flag string) string {
	out, err := exec.CommandContext(ctx, prog, flag).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
