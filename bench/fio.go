// Package bench measures refengine's NBD exports with fio against a
// baseline, nbdkit's file plugin on a plain file: a mature single-copy NBD
// server on the same machine. cmd/refbench is its command line and `make
// bench` runs it; docs/benchmarks.md says how to read the figures.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/fiojson"
)

// Workload is one fio job shape.
type Workload struct {
	// Name labels the workload in tables and JSON.
	Name string `json:"name"`
	// RW is fio's rw= (write, randrw, ...).
	RW string `json:"rw"`
	// BlockSize is fio's bs= in bytes.
	BlockSize int64 `json:"block_size"`
	// IODepth is fio's iodepth=.
	IODepth int `json:"iodepth"`
	// ReadMix is fio's rwmixread= for mixed workloads, else 0.
	ReadMix int `json:"rwmixread,omitempty"`
}

// DefaultWorkloads are the three the issue asks for: 1 MiB sequential
// write at depth 8, 4 KiB random read/write 50/50 at depth 32, and 4 KiB
// random writes one at a time, whose completion latency is what a
// database's commit waits for. The sequential write runs first so that the
// random reads find allocated data.
func DefaultWorkloads() []Workload {
	return []Workload{
		{Name: "seqwrite-1m-qd8", RW: "write", BlockSize: 1 << 20, IODepth: 8},
		{Name: "randrw-4k-qd32", RW: "randrw", BlockSize: 4 << 10, IODepth: 32, ReadMix: 50},
		{Name: LatencyWorkload, RW: "randwrite", BlockSize: 4 << 10, IODepth: 1},
	}
}

// WorkloadsNamed returns the default workloads of the given names, in the
// order given; an unknown name is an error that lists the known ones.
func WorkloadsNamed(names []string) ([]Workload, error) {
	all := DefaultWorkloads()
	var out []Workload
	for _, name := range names {
		i := slices.IndexFunc(all, func(w Workload) bool { return w.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(WorkloadNames(), ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// WorkloadNames are the names of DefaultWorkloads, in order.
func WorkloadNames() []string {
	var names []string
	for _, w := range DefaultWorkloads() {
		names = append(names, w.Name)
	}
	return names
}

// LatencyWorkload is the workload whose p99 write completion latency the
// table singles out: 4 KiB random writes at queue depth 1, where nothing
// hides one request's latency behind another's.
const LatencyWorkload = "randwrite-4k-qd1"

// FioArgs returns fio's command line for running w for runtime over size
// bytes of the NBD export at uri, with JSON output.
func FioArgs(w Workload, uri string, size int64, runtime time.Duration) []string {
	args := []string{
		"--name=" + w.Name,
		"--ioengine=nbd",
		"--uri=" + uri,
		"--rw=" + w.RW,
		"--bs=" + strconv.FormatInt(w.BlockSize, 10),
		"--iodepth=" + strconv.Itoa(w.IODepth),
		"--size=" + strconv.FormatInt(size, 10),
		"--time_based=1",
		"--runtime=" + strconv.FormatInt(max(1, int64(runtime/time.Second)), 10),
		"--output-format=json",
	}
	if w.ReadMix > 0 {
		args = append(args, "--rwmixread="+strconv.Itoa(w.ReadMix))
	}
	return args
}

// FioResult is what one fio run measured, summed over its jobs.
type FioResult struct {
	ReadBytesPerSec  float64 `json:"read_bytes_per_sec"`
	WriteBytesPerSec float64 `json:"write_bytes_per_sec"`
	ReadIOPS         float64 `json:"read_iops"`
	WriteIOPS        float64 `json:"write_iops"`
	// ReadP99 and WriteP99 are the 99th percentile of completion latency
	// (fio's clat_ns) of reads and writes; 0 for a direction that did no
	// I/O.
	ReadP99  time.Duration `json:"read_clat_p99_ns"`
	WriteP99 time.Duration `json:"write_clat_p99_ns"`
}

// MBps is the total throughput in MB/s (10^6 bytes per second).
func (r FioResult) MBps() float64 { return (r.ReadBytesPerSec + r.WriteBytesPerSec) / 1e6 }

// IOPS is the total of read and write operations per second.
func (r FioResult) IOPS() float64 { return r.ReadIOPS + r.WriteIOPS }

// ParseFio reads fio's JSON output (see fiojson.Parse) and sums its jobs.
// A job that reports an error, or a run that moved no data, is an error:
// fio exits 1 but still prints JSON when it cannot connect.
func ParseFio(out []byte) (FioResult, error) {
	o, err := fiojson.Parse(out)
	if err != nil {
		return FioResult{}, err
	}
	if len(o.Jobs) == 0 {
		return FioResult{}, errors.New("parse fio output: no jobs")
	}
	var r FioResult
	var ios int64
	for _, j := range o.Jobs {
		if j.Error != 0 {
			return FioResult{}, fmt.Errorf("fio job %s failed with error %d", j.Name, j.Error)
		}
		for _, v := range []float64{j.Read.BwBytes, j.Read.IOPS, j.Write.BwBytes, j.Write.IOPS} {
			if v < 0 || v != v {
				return FioResult{}, fmt.Errorf("fio job %s: impossible figure %v", j.Name, v)
			}
		}
		r.ReadBytesPerSec += j.Read.BwBytes
		r.WriteBytesPerSec += j.Write.BwBytes
		r.ReadIOPS += j.Read.IOPS
		r.WriteIOPS += j.Write.IOPS
		ios += j.Read.TotalIOs + j.Write.TotalIOs
		// Over several jobs the slowest job's p99 stands for the run: a
		// percentile of the merged distribution cannot be had from the
		// jobs' percentiles, and refbench runs one job anyway.
		var err error
		if r.ReadP99, err = maxP99(r.ReadP99, j.Read); err != nil {
			return FioResult{}, fmt.Errorf("fio job %s reads: %w", j.Name, err)
		}
		if r.WriteP99, err = maxP99(r.WriteP99, j.Write); err != nil {
			return FioResult{}, fmt.Errorf("fio job %s writes: %w", j.Name, err)
		}
	}
	if ios == 0 {
		return FioResult{}, errors.New("fio did no I/O")
	}
	if math.IsInf(r.MBps(), 0) || math.IsInf(r.IOPS(), 0) {
		return FioResult{}, errors.New("parse fio output: figures overflow")
	}
	return r, nil
}

// maxP99 returns the larger of d and s's p99 completion latency. A stream
// that did I/O must have one: fio always reports it unless told not to.
func maxP99(d time.Duration, s fiojson.Stream) (time.Duration, error) {
	if s.TotalIOs == 0 {
		return d, nil
	}
	p, err := s.Clat.Percentile(99)
	if err != nil {
		return 0, err
	}
	return max(d, p), nil
}

// RunFio runs fio with args and parses its result. A failing fio's
// diagnostics (on stderr) are part of the error.
func RunFio(ctx context.Context, fio string, args []string) (FioResult, error) {
	cmd := exec.CommandContext(ctx, fio, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	res, parseErr := ParseFio(stdout.Bytes())
	if runErr != nil || parseErr != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return FioResult{}, fmt.Errorf("fio %s: %w (%s)", strings.Join(args, " "), errors.Join(runErr, parseErr), msg)
	}
	return res, nil
}
