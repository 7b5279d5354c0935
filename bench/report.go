package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"
)

// Result is one target under one workload, over Config.Repeat measured
// runs.
type Result struct {
	Target   string `json:"target"`
	Workload string `json:"workload"`
	// MBps and IOPS are the medians over the runs, reads and writes
	// totalled.
	MBps float64 `json:"mb_per_sec"`
	IOPS float64 `json:"iops"`
	// MBpsMin and MBpsMax are the spread of MBps over the runs.
	MBpsMin float64 `json:"mb_per_sec_min"`
	MBpsMax float64 `json:"mb_per_sec_max"`
	// WriteP99 is the median over the runs of the 99th percentile of write
	// completion latency; 0 for a workload without writes.
	WriteP99 time.Duration `json:"write_clat_p99_ns"`
	// BaselineMBps is the median MBps of the baseline runs paired with
	// this target's runs (each run just before one of them); for the
	// baseline, its own median. 0 without a baseline.
	BaselineMBps float64 `json:"baseline_mb_per_sec,omitempty"`
	// Ratio is MBps divided by BaselineMBps (equal to the IOPS ratio, as
	// the block size is the same); 0 when either side has no figure.
	Ratio float64 `json:"ratio_to_baseline"`
	// Runs are the measured runs, warm-ups not included.
	Runs []FioResult `json:"runs"`
	// Error says why there is no figure.
	Error string `json:"error,omitempty"`
}

// Report is everything one run measured, as written to --out.
type Report struct {
	Started  time.Time  `json:"started"`
	Runtime  string     `json:"runtime_per_job"`
	Size     int64      `json:"size_bytes"`
	Baseline string     `json:"baseline"`
	Host     Host       `json:"host"`
	Work     []Workload `json:"workloads"`
	Results  []Result   `json:"results"`
	// Resync is the resync-after-crash benchmark, when it ran.
	Resync []ResyncResult `json:"resync,omitempty"`
	// Backup is the backup and restore benchmark, when it ran.
	Backup *BackupReport `json:"backup,omitempty"`
	// Memory is the memory benchmark, when it ran.
	Memory *MemoryReport `json:"memory,omitempty"`
}

// Host describes where the figures come from.
type Host struct {
	CPUs int `json:"cpus"`
	// LoadStart and LoadEnd are the load averages when the run started
	// and ended; absent where there is no /proc/loadavg.
	LoadStart     *Load  `json:"load_at_start,omitempty"`
	LoadEnd       *Load  `json:"load_at_end,omitempty"`
	GoVersion     string `json:"go_version"`
	FioVersion    string `json:"fio_version"`
	NbdkitVersion string `json:"nbdkit_version"`
}

// WriteTable prints the results as an aligned table: medians, the MB/s
// spread, the write p99 latency and the ratio to the baseline.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tworkload\truns\tMB/s\tmin\tmax\tIOPS\tp99 write µs\tratio\t")
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t-\t-\t-\t-\t  error: %s\n", r.Target, r.Workload, len(r.Runs), oneLine(r.Error, 100))
			continue
		}
		ratio, p99 := "-", "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.WriteP99 > 0 {
			p99 = fmt.Sprintf("%.0f", float64(r.WriteP99)/float64(time.Microsecond))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.0f\t%s\t%s\t\n",
			r.Target, r.Workload, len(r.Runs), r.MBps, r.MBpsMin, r.MBpsMax, r.IOPS, p99, ratio)
	}
	return tw.Flush()
}

// oneLine shortens s to one line of at most n bytes for the table.
func oneLine(s string, n int) string {
	for i, c := range s {
		if c == '\n' {
			s = s[:i]
			break
		}
	}
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// WriteJSON writes the report to path, replacing it atomically.
func WriteJSON(path string, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file renamed
// over it, so a reader never sees half a file, creating path's directory
// first: runs/ does not exist on a fresh checkout.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// WriteBitmapCost prints, per workload, the engine process's throughput
// with write-intent bitmaps against the same engine without them.
func WriteBitmapCost(w io.Writer, results []Result) {
	with, without := map[string]float64{}, map[string]float64{}
	for _, r := range results {
		if r.Error != "" {
			continue
		}
		switch r.Target {
		case "refengine-engine-x2":
			with[r.Workload] = r.MBps
		case "refengine-engine-x2-nobitmap":
			without[r.Workload] = r.MBps
		}
	}
	for _, r := range results {
		if r.Target != "refengine-engine-x2" {
			continue
		}
		a, b := with[r.Workload], without[r.Workload]
		if a == 0 || b == 0 {
			continue
		}
		fmt.Fprintf(w, "write-intent bitmap cost, %s: %.2fx the throughput without it (%+.1f%%)\n", r.Workload, a/b, 100*(a/b-1))
	}
}
