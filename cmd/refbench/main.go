// Command refbench runs fio (nbd engine) against nbdkit's file plugin, the
// baseline, and against refengine's exports (one lvol, raid1 of two and of
// three), each target run right after a baseline run, --repeat times. It
// prints the load, a table of median MB/s with its spread, IOPS, p99 write
// latency and the ratio to the baseline, and writes the figures as JSON and
// an SVG chart. It then measures resync after an engine crash, and backups
// and restores of a volume on a file and an S3 target against copying the
// same bytes with cp, nbdcopy and plain S3 PUTs and GETs. `make bench` runs
// it; see docs/benchmarks.md.
//
// Exit status: 0 every target and operation measured, 1 some failed (their
// rows say why; skipped rows are not failures), 2 the run could not happen
// (flags, missing fio).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		refengine = fs.String("refengine", "", "refengine binary (default: build ./cmd/refengine)")
		fio       = fs.String("fio", "fio", "fio binary")
		nbdkit    = fs.String("nbdkit", "nbdkit", "nbdkit binary")
		runtime   = fs.Duration("runtime", 10*time.Second, "run time of each fio job")
		size      = fs.String("size", "256MiB", "bytes each job spans (file and lvol size)")
		warmup    = fs.Duration("warmup", 2*time.Second, "unmeasured fio run before each measured one (0: none)")
		repeat    = fs.Int("repeat", 1, "measured runs of each target under each workload (median and spread reported)")
		out       = fs.String("out", filepath.Join("runs", "bench", "bench.json"), "write the figures as JSON here, and the chart beside it as .svg (empty: neither)")
		targets   = fs.String("targets", strings.Join(bench.TargetNames(), ","), "comma-separated targets to run")
		workloads = fs.String("workloads", strings.Join(bench.WorkloadNames(), ","), "comma-separated fio workloads to run on each target")
		workdir   = fs.String("workdir", "", "directory for files, sockets and logs (default: a temporary one, removed)")
		keep      = fs.Bool("keep", false, "keep the temporary work directory")
		quiet     = fs.Bool("quiet", false, "no progress on stderr")
		resync    = fs.Bool("resync", true, "also measure resync after an engine crash (1 GiB volume, 3 replicas)")
		only      = fs.String("only", strings.Join(bench.DefaultJobs(), ","), "comma-separated benchmarks to run, of "+strings.Join(bench.JobNames(), ", ")+" (memory: only when named)")
		backupSz  = fs.String("backup-size", "1GiB", "volume the backup benchmark backs up and restores (a multiple of 2 MiB)")
		versitygw = fs.String("versitygw", "", "versitygw binary for the S3 backup target (default: $FAULTLINE_VERSITYGW, PATH, $(go env GOPATH)/bin; S3 rows are skipped without one)")
		nbdcopy   = fs.String("nbdcopy", "nbdcopy", "nbdcopy binary (a baseline of the backup benchmark)")
		memDur    = fs.Duration("memory-duration", bench.MemoryDuration, "how long the memory benchmark keeps its three volumes under load")
		memEvery  = fs.Duration("memory-interval", bench.MemoryInterval, "how often the memory benchmark samples the nodes' RSS (at least 8 samples a run)")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: refbench [flags]\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "refbench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	n, err := bench.ParseSize(*size)
	if err != nil {
		fmt.Fprintf(stderr, "refbench: --size: %v\n", err)
		return 2
	}
	bsize, err := bench.ParseSize(*backupSz)
	if err != nil {
		fmt.Fprintf(stderr, "refbench: --backup-size: %v\n", err)
		return 2
	}
	ws, err := bench.WorkloadsNamed(splitList(*workloads))
	if err == nil && len(ws) == 0 {
		err = errors.New("none given")
	}
	if err != nil {
		fmt.Fprintf(stderr, "refbench: --workloads: %v\n", err)
		return 2
	}
	jobs := splitList(*only)
	if !*resync {
		jobs = slices.DeleteFunc(jobs, func(j string) bool { return j == bench.JobResync })
	}
	if *repeat < 1 {
		fmt.Fprintf(stderr, "refbench: --repeat %d: must be at least 1\n", *repeat)
		return 2
	}
	if len(jobs) == 0 {
		// An empty Config.Jobs would mean all of them.
		fmt.Fprintln(stderr, "refbench: --only: no benchmark left to run")
		return 2
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	cfg := bench.Config{
		Refengine:      *refengine,
		Fio:            *fio,
		Nbdkit:         *nbdkit,
		Size:           n,
		Runtime:        *runtime,
		Warmup:         *warmup,
		Repeat:         *repeat,
		Targets:        splitList(*targets),
		Workloads:      ws,
		WorkDir:        *workdir,
		Keep:           *keep,
		Jobs:           jobs,
		BackupSize:     bsize,
		Versitygw:      *versitygw,
		Nbdcopy:        *nbdcopy,
		MemoryDuration: *memDur,
		MemoryInterval: *memEvery,
		Log:            slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil && len(rep.Results) == 0 && len(rep.Resync) == 0 && rep.Backup == nil && rep.Memory == nil {
		fmt.Fprintf(stderr, "refbench: %v\n", err)
		return 2
	}
	bench.WriteLoad(stdout, "at start", rep.Host.LoadStart, rep.Host.CPUs)
	if len(rep.Results) > 0 {
		if err := bench.WriteTable(stdout, rep.Results); err != nil {
			fmt.Fprintf(stderr, "refbench: %v\n", err)
			return 2
		}
		bench.WriteBitmapCost(stdout, rep.Results)
		fmt.Fprintln(stdout)
	}
	if len(rep.Resync) > 0 {
		if err := bench.WriteResyncTable(stdout, rep.Resync); err != nil {
			fmt.Fprintf(stderr, "refbench: %v\n", err)
			return 2
		}
		fmt.Fprintln(stdout)
	}
	if rep.Backup != nil {
		if err := bench.WriteBackupTable(stdout, rep.Backup); err != nil {
			fmt.Fprintf(stderr, "refbench: %v\n", err)
			return 2
		}
	}
	if rep.Memory != nil {
		if err := bench.WriteMemoryTable(stdout, rep.Memory); err != nil {
			fmt.Fprintf(stderr, "refbench: %v\n", err)
			return 2
		}
	}
	if rep.Host.LoadEnd != nil {
		bench.WriteLoad(stdout, "at end", rep.Host.LoadEnd, rep.Host.CPUs)
	}
	if *out != "" {
		if err := bench.WriteJSON(*out, rep); err != nil {
			fmt.Fprintf(stderr, "refbench: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "figures written to %s\n", *out)
		if len(rep.Results) > 0 {
			chart := bench.ChartPath(*out)
			if err := bench.WriteSVG(chart, rep); err != nil {
				fmt.Fprintf(stderr, "refbench: %v\n", err)
				return 2
			}
			fmt.Fprintf(stderr, "chart written to %s\n", chart)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "refbench: %v\n", err)
		return 1
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			return 1
		}
	}
	for _, r := range rep.Resync {
		if r.Error != "" {
			return 1
		}
	}
	if rep.Backup != nil {
		for _, r := range rep.Backup.Results {
			if r.Error != "" {
				return 1
			}
		}
	}
	if rep.Memory != nil && rep.Memory.Failed() {
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
