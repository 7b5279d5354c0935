package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// BackupReport is the backup and restore benchmark: one volume backed up
// and restored on each target kind, beside plain copies of the same bytes
// to the same place.
type BackupReport struct {
	VolumeBytes int64  `json:"volume_bytes"`
	Content     string `json:"content"`
	// ChangedBlocks is how many 2 MiB blocks change before each
	// incremental backup (ChangedPercent of the volume, rounded up).
	ChangedBlocks  int    `json:"changed_blocks"`
	ChangedPercent int    `json:"changed_percent"`
	Compression    string `json:"compression"`
	// Concurrency is the blocks (or objects) in flight, for the backup
	// store and the S3 baselines alike.
	Concurrency int `json:"concurrency"`
	// Cache says how the page cache was kept out of the figures.
	Cache string `json:"page_cache"`
	// Seconds is the whole benchmark's wall time, setup included.
	Seconds float64        `json:"seconds"`
	Results []BackupResult `json:"results"`
}

// BackupResult is one timed operation on one target kind.
type BackupResult struct {
	Target string `json:"target"` // "file" or "s3"
	Op     string `json:"operation"`
	// Baseline is the operation of the same target this row's ratio is
	// taken against ("" for none).
	Baseline string  `json:"baseline,omitempty"`
	Seconds  float64 `json:"seconds"`
	// Runs are the times of both rounds of a baseline, which reports the
	// faster (see baselineOp).
	Runs []float64 `json:"runs_seconds,omitempty"`
	// MBps is the volume's size in 10^6 bytes over Seconds: for an
	// incremental operation, the rate at which it brings the whole volume
	// up to date, not the rate of the bytes it moved.
	MBps float64 `json:"mb_per_sec"`
	// Ratio is MBps over the baseline's MBps (equally, the baseline's
	// time over this one's); 0 when either has no figure.
	Ratio float64 `json:"ratio_to_baseline"`
	// BytesRead were read from the source volume.
	BytesRead int64 `json:"bytes_read"`
	// BytesUploaded were stored on the target: stored block objects
	// (header and compressed payload) for a backup, the copy's allocated
	// bytes for cp and nbdcopy, object bytes for an S3 upload.
	BytesUploaded int64 `json:"bytes_uploaded"`
	// BytesPulled were fetched from the target.
	BytesPulled int64 `json:"bytes_pulled"`
	// BytesWritten went to a restored volume or copy, zeros included.
	BytesWritten int64 `json:"bytes_written"`
	// Skipped says why the operation did not run, when it could not
	// (a program that is not installed); it is not a failure.
	Skipped string `json:"skipped,omitempty"`
	// Error says why the operation failed.
	Error string `json:"error,omitempty"`
}

// computeBackupRatios sets each row's Ratio against its baseline row.
func computeBackupRatios(results []BackupResult) {
	base := map[[2]string]float64{}
	for _, r := range results {
		if r.Error == "" && r.Skipped == "" {
			base[[2]string{r.Target, r.Op}] = r.MBps
		}
	}
	for i := range results {
		r := &results[i]
		r.Ratio = 0
		if b := base[[2]string{r.Target, r.Baseline}]; b > 0 && r.Baseline != "" && r.Error == "" && r.Skipped == "" {
			r.Ratio = r.MBps / b
		}
	}
}

// WriteBackupTable prints the backup benchmark.
func WriteBackupTable(w io.Writer, rep *BackupReport) error {
	fmt.Fprintf(w, "backup and restore: %d MiB volume, %s, %d blocks in flight, %d%% changed (%d blocks) before each incremental; %.0f s in all\n",
		rep.VolumeBytes>>20, rep.Compression, rep.Concurrency, rep.ChangedPercent, rep.ChangedBlocks, rep.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\toperation\tseconds\tMB/s\tratio\tagainst\tMB read\tMB up\tMB pulled\tMB written\truns (s)\t")
	mb := func(n int64) string {
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(n)/1e6)
	}
	for _, r := range rep.Results {
		switch {
		case r.Skipped != "":
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t  skipped: %s\n", r.Target, r.Op, oneLine(r.Skipped, 140))
			continue
		case r.Error != "":
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t  error: %s\n", r.Target, r.Op, oneLine(r.Error, 140))
			continue
		}
		ratio, against := "-", "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.Baseline != "" && r.Baseline != r.Op {
			against = r.Baseline
		}
		runs := "-"
		if len(r.Runs) > 0 {
			var f []string
			for _, s := range r.Runs {
				f = append(f, fmt.Sprintf("%.2f", s))
			}
			runs = strings.Join(f, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Target, r.Op, r.Seconds, r.MBps,
			ratio, against, mb(r.BytesRead), mb(r.BytesUploaded), mb(r.BytesPulled), mb(r.BytesWritten), runs)
	}
	return tw.Flush()
}
