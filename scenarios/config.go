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

	"github.com/faultline/faultline/bench"
	"github.com/faultline/faultline/cluster/kind"
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
	// ClusterKind selects the cluster driver: "local" (the default) or "kind".
	ClusterKind string
	// Kind configures the kind driver (ClusterKind "kind"); Defects, DiskSize and KeepCluster
	// are copied into it.
	Kind kind.Config
	// Refengine is the refengine binary for the local cluster.
	Refengine string
	Nodes     int
	// DiskSize is the size in bytes of every node's disk in a local
	// cluster this suite starts (0: the driver's default). Small disks make
	// space leaks show as failed writes sooner.
	DiskSize int64
	// DisksPerNode is how many disks each node of a local cluster this
	// suite starts serves (0: one). The CLI raises it to what the
	// selected scenarios need (DisksNeeded); a scenario that needs more
	// than the cluster has skips itself.
	DisksPerNode int
	Defects      []string
	// BackupTarget is the kind of backup target specs back up to (Spec.BackupTarget):
	// BackupTargetFile (the default, also when empty: the manager's own file:// target) or
	// BackupTargetS3 (a versitygw S3 server the cluster runs).
	BackupTarget string
	// RestoreRateLimit caps, in bytes per second, what each replica restore writes (the
	// manager's --restore-rate-limit), so that a restore lasts long enough to be faulted
	// midway. 0 means DefaultRestoreRateLimit, NoRestoreRateLimit (negative) no limit (what
	// --restore-rate-limit 0 asks for). It is applied on the local cluster the suite starts,
	// not on kind or an attached cluster (whose manager runs already: `faultline cluster up
	// --restore-rate-limit` sets it there).
	RestoreRateLimit int64
	// Soak configures the soak scenario; it runs only when selected
	// explicitly (faultline soak, or a label filter naming soak).
	Soak SoakConfig
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
// FAULTLINE_REFENGINE, FAULTLINE_NODES, FAULTLINE_DISK_SIZE (bytes, or with a
// K/M/G suffix), FAULTLINE_DISKS_PER_NODE, FAULTLINE_DEFECTS (comma list), FAULTLINE_OUT,
// FAULTLINE_KEEP_CLUSTER, FAULTLINE_SOAK_DURATION, FAULTLINE_BACKUP_TARGET
// (file or s3) and FAULTLINE_RESTORE_RATE_LIMIT (bytes per second, with an
// optional K/M/G suffix; 0 for none; default DefaultRestoreRateLimit).
func FromEnv() (Config, error) {
	var c Config
	var err error
	if c.BackupTarget, err = ParseBackupTarget(os.Getenv("FAULTLINE_BACKUP_TARGET")); err != nil {
		return c, fmt.Errorf("FAULTLINE_BACKUP_TARGET: %w", err)
	}
	if v := os.Getenv("FAULTLINE_RESTORE_RATE_LIMIT"); v != "" {
		n, err := ParseRestoreRateLimit(v)
		if err != nil {
			return c, fmt.Errorf("FAULTLINE_RESTORE_RATE_LIMIT: %w", err)
		}
		c.RestoreRateLimit = RestoreRateLimitConfig(n)
	}
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
	if v := os.Getenv("FAULTLINE_DISKS_PER_NODE"); v != "" {
		if c.DisksPerNode, err = strconv.Atoi(v); err != nil || c.DisksPerNode < 1 {
			return c, fmt.Errorf("FAULTLINE_DISKS_PER_NODE: want a count >= 1, got %q", v)
		}
	}
	if v := os.Getenv("FAULTLINE_DISK_SIZE"); v != "" {
		if c.DiskSize, err = ParseDiskSize(v); err != nil {
			return c, fmt.Errorf("FAULTLINE_DISK_SIZE: %w", err)
		}
	}
	if v := os.Getenv("FAULTLINE_SOAK_DURATION"); v != "" {
		if c.Soak.Duration, err = time.ParseDuration(v); err != nil || c.Soak.Duration <= 0 {
			return c, fmt.Errorf("FAULTLINE_SOAK_DURATION: want a positive duration, got %q", v)
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

// ParseDiskSize reads a node disk size such as "512M" or "1G" (binary
// units) and checks that a local cluster can use it: a positive multiple
// of 1 MiB.
func ParseDiskSize(s string) (int64, error) {
	n, err := bench.ParseSize(s)
	if err != nil {
		return 0, err
	}
	if n%(1<<20) != 0 {
		return 0, fmt.Errorf("disk size %q: want a multiple of 1 MiB", s)
	}
	return n, nil
}

// Backup target kinds (--backup-target).
const (
	BackupTargetFile = "file"
	BackupTargetS3   = "s3"
)

// DefaultRestoreRateLimit is the restore rate faultline runs use unless told
// otherwise: a 32 MiB incremental restore takes about two seconds, long
// enough for a seeded fault to land in it.
const DefaultRestoreRateLimit = 16 << 20

// NoRestoreRateLimit as Config.RestoreRateLimit lets restores run unlimited.
const NoRestoreRateLimit = -1

// RestoreRateLimitConfig turns a flag's rate (bytes per second, 0 for no
// limit) into Config.RestoreRateLimit.
func RestoreRateLimitConfig(n int64) int64 {
	if n <= 0 {
		return NoRestoreRateLimit
	}
	return n
}

// restoreRateLimit returns the rate for the manager in bytes per second, 0
// for no limit.
func (c *Config) restoreRateLimit() int64 {
	switch {
	case c.RestoreRateLimit == 0:
		return DefaultRestoreRateLimit
	case c.RestoreRateLimit < 0:
		return 0
	}
	return c.RestoreRateLimit
}

// RunParams are the flags that repeat c's backup target and restore rate in
// a reproduce command, each only when it differs from the default (so
// commands of default runs stay as they were), with a leading space.
func RunParams(c *Config) string {
	var b strings.Builder
	if c.backupTarget() != BackupTargetFile {
		b.WriteString(" --backup-target " + c.backupTarget())
	}
	if r := c.restoreRateLimit(); r != DefaultRestoreRateLimit {
		b.WriteString(" --restore-rate-limit " + strconv.FormatInt(r, 10))
	}
	return b.String()
}

// ParseBackupTarget checks a --backup-target value; "" means
// BackupTargetFile.
func ParseBackupTarget(s string) (string, error) {
	switch s {
	case "", BackupTargetFile:
		return BackupTargetFile, nil
	case BackupTargetS3:
		return s, nil
	}
	return "", fmt.Errorf("backup target %q: want file or s3", s)
}

// ParseRestoreRateLimit reads a restore rate in bytes per second, such as
// "16M" (binary units) or "0" for no limit.
func ParseRestoreRateLimit(s string) (int64, error) {
	if strings.TrimSpace(s) == "0" {
		return 0, nil
	}
	n, err := bench.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("restore rate limit: %w", err)
	}
	return n, nil
}

// backupTarget returns c.BackupTarget, BackupTargetFile when empty.
func (c *Config) backupTarget() string {
	if c.BackupTarget == "" {
		return BackupTargetFile
	}
	return c.BackupTarget
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

// SoakConfig is what `faultline soak` tells the soak scenario. Zero fields
// take the defaults below.
type SoakConfig struct {
	// Duration is how long faults are injected (default 10m); the final
	// checks come after it.
	Duration time.Duration
	// Volumes is how many volumes run a writer (default 3).
	Volumes int
	// FaultKinds is the subset of SoakFaultKinds to draw from (all when
	// empty).
	FaultKinds []string
	// CheckEvery is how many faults pass between quiescent check rounds
	// (default 1).
	CheckEvery int
}

// Soak defaults.
const (
	DefaultSoakDuration = 10 * time.Minute
	DefaultSoakVolumes  = 3
)

// withDefaults fills the zero fields.
func (c SoakConfig) withDefaults() SoakConfig {
	if c.Duration <= 0 {
		c.Duration = DefaultSoakDuration
	}
	if c.Volumes <= 0 {
		c.Volumes = DefaultSoakVolumes
	}
	if c.CheckEvery <= 0 {
		c.CheckEvery = 1
	}
	return c
}
