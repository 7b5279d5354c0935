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

// Result is one target under one workload.
type Result struct {
	Target   string `json:"target"`
	Workload string `json:"workload"`
	// MBps and IOPS total reads and writes.
	MBps float64 `json:"mb_per_sec"`
	IOPS float64 `json:"iops"`
	// Ratio is MBps divided by the baseline's MBps for the same workload
	// (equal to the IOPS ratio, as the block size is the same); 0 when
	// either side has no figure.
	Ratio float64   `json:"ratio_to_baseline"`
	Fio   FioResult `json:"fio"`
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
}

// Host describes where the figures come from.
type Host struct {
	CPUs          int    `json:"cpus"`
	GoVersion     string `json:"go_version"`
	FioVersion    string `json:"fio_version"`
	NbdkitVersion string `json:"nbdkit_version"`
}

// ComputeRatios sets each result's Ratio against the baseline target's
// result for the same workload.
func ComputeRatios(results []Result, baseline string) {
	base := map[string]float64{}
	for _, r := range results {
		if r.Target == baseline && r.Error == "" {
			base[r.Workload] = r.MBps
		}
	}
	for i := range results {
		r := &results[i]
		r.Ratio = 0
		if b := base[r.Workload]; b > 0 && r.Error == "" {
			r.Ratio = r.MBps / b
		}
	}
}

// WriteTable prints the results as an aligned table.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tworkload\tMB/s\tIOPS\tratio\t")
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t  error: %s\n", r.Target, r.Workload, oneLine(r.Error, 100))
			continue
		}
		ratio := "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f\t%s\t\n", r.Target, r.Workload, r.MBps, r.IOPS, ratio)
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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write report: %w", err)
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
