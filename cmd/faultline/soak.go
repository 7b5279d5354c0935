package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/faultline/faultline/scenarios"
)

const soakSynopsis = `soak [flags]

Jepsen-style nemesis. Brings up a cluster (or uses --cluster-dir), creates
--volumes volumes (seeded sizes of 16-64 MiB, 2 or 3 replicas, attached on
seeded nodes), each under a continuous writer of random 4 KiB blocks that
reconnects when its frontend dies, and for --duration injects faults drawn
by a generator seeded with --seed: node stop (then start after a seeded
pause), instance-manager delete, engine crash, replica delete (one at a
time, never more than one node down), waiting after each until every
volume is attached and healthy again. After every --check-every faults it
holds the writers at a quiescent point, flushes and runs every checker:
history (flush semantics), replicas-equal, reads-deterministic (sampled),
space-bounded and no-orphans. The same seed replays the same schedule.

Prints one line per fault and per check round, and a summary at the end
(faults by kind, checks by checker, recoveries), which also goes into the
report directory as the soak-summary verdict (run.json, junit.xml,
report.html with the timeline and its fault windows). On failure it prints
the seed, the command that reproduces it and the schedule up to the failure.

Exit status: 0 the soak passed, 1 a check failed, 2 could not run.`

// soakGrace is the suite timeout beyond the soak's own spec timeout: the
// cluster's start and stop and the end-of-run checks.
const soakGrace = 10 * time.Minute

func soakCmd(args []string, stdout, stderr io.Writer) int {
	var (
		f          runFlags
		cfg        scenarios.SoakConfig
		faultKinds string
	)
	fs := newFlagSet("soak", soakSynopsis, stderr)
	fs.DurationVar(&cfg.Duration, "duration", scenarios.DefaultSoakDuration, "how long to inject faults; the last recovery and check round come after it")
	fs.Int64Var(&f.seed, "seed", 0, "seed of the fault schedule, the volumes and the writers; 0 picks one and prints it")
	fs.IntVar(&cfg.Volumes, "volumes", scenarios.DefaultSoakVolumes, "number of volumes, each with its own writer")
	fs.StringVar(&faultKinds, "fault-kinds", "", "comma-separated fault kinds to draw from: "+strings.Join(scenarios.SoakFaultKinds(), ", ")+" (the default set), and the opt-in "+strings.Join(scenarios.SoakOptInFaultKinds(), ", "))
	fs.IntVar(&cfg.CheckEvery, "check-every", 1, "run every checker after this many faults")
	fs.IntVar(&f.nodes, "nodes", 3, "number of storage nodes of the local cluster (at least 2)")
	fs.StringVar(&f.cluster, "cluster", "local", "cluster driver: local (processes on this machine) or kind (see the --kind-* flags)")
	fs.StringVar(&f.out, "out", "", "report directory (default runs/<UTC timestamp>, with runs/latest pointing at it)")
	fs.StringVar(&f.refengine, "refengine", "", "refengine binary (default $FAULTLINE_REFENGINE, then refengine or bin/refengine next to faultline, then PATH)")
	fs.StringVar(&f.defects, "defects", "", "comma-separated refengine defect switches to enable on every refengine process")
	fs.StringVar(&f.clusterDir, "cluster-dir", os.Getenv("FAULTLINE_CLUSTER_DIR"), "use the cluster in `DIR`, started by faultline cluster up --dir DIR, instead of starting one (env FAULTLINE_CLUSTER_DIR)")
	fs.BoolVar(&f.keepCluster, "keep-cluster", false, "leave the cluster running afterwards; stop it with faultline cluster down --dir OUT/cluster")
	fs.BoolVar(&f.asJSON, "json", false, "print the run (run.json) on stdout at the end; progress goes to stderr")
	fs.BoolVar(&f.verbose, "v", false, "verbose Ginkgo output (every By and report entry)")
	diskSizeFlag(fs, &f.diskSize)
	f.params.backupTargetFlag(fs)
	f.params.restoreRateFlag(fs)
	kindFlags(fs, &f.kind)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg.FaultKinds = scenarios.SplitList(faultKinds)
	if err := validateSoak(fs, cfg, &f); err != nil {
		fmt.Fprintln(stderr, "faultline soak:", err)
		return exitNotRun
	}
	f.scenario, f.repeat, f.soak = "soak", 1, &cfg
	f.timeout = cfg.Duration + scenarios.SoakMargin + soakGrace
	return start("soak", f, stdout, stderr)
}

func validateSoak(fs *flag.FlagSet, cfg scenarios.SoakConfig, f *runFlags) error {
	switch {
	case cfg.Duration <= 0:
		return fmt.Errorf("--duration %v: want a positive duration", cfg.Duration)
	case cfg.Volumes < 1 || cfg.Volumes > 20:
		return fmt.Errorf("--volumes %d: want 1..20", cfg.Volumes)
	case cfg.CheckEvery < 1:
		return fmt.Errorf("--check-every %d: want >= 1", cfg.CheckEvery)
	case f.nodes < 2 || f.nodes > 200:
		return fmt.Errorf("--nodes %d: want 2..200 (a node stop must leave a replica)", f.nodes)
	}
	if err := scenarios.CheckSoakFaultKinds(cfg.FaultKinds); err != nil {
		return fmt.Errorf("--fault-kinds: %w", err)
	}
	// The flags soak shares with run are checked as run checks them.
	f.repeat, f.timeout = 1, time.Hour
	return f.validate(fs)
}
