// Package fiojson reads fio's --output-format=json: the per-job figures
// that interop tests assert on and that refbench sums into throughput.
package fiojson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Output is the part of fio's JSON document that faultline reads.
type Output struct {
	Version string `json:"fio version"`
	Jobs    []Job  `json:"jobs"`
}

// Job is one fio job's result.
type Job struct {
	Name  string `json:"jobname"`
	Error int    `json:"error"`
	Read  Stream `json:"read"`
	Write Stream `json:"write"`
}

// Stream is one direction (read or write) of a job.
type Stream struct {
	IOBytes  int64   `json:"io_bytes"`
	BwBytes  float64 `json:"bw_bytes"`
	IOPS     float64 `json:"iops"`
	TotalIOs int64   `json:"total_ios"`
	// Clat is the completion latency: from submission to completion, the
	// part of an I/O's life the target is responsible for.
	Clat Latency `json:"clat_ns"`
}

// Latency is one of fio's latency distributions, in nanoseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	// Percentiles maps fio's percentile labels ("99.000000") to
	// nanoseconds; fio prints the list set by --percentile_list, by default
	// 1 to 99.99, and none for a stream that did no I/O.
	Percentiles map[string]float64 `json:"percentile"`
}

// Percentile returns the latency at percentile p (99 for p99). fio labels
// percentiles with six decimals, so the label is parsed rather than built
// from p, and a missing or impossible figure is an error rather than zero:
// a latency of 0 would read as infinitely fast.
func (l Latency) Percentile(p float64) (time.Duration, error) {
	for label, ns := range l.Percentiles {
		q, err := strconv.ParseFloat(label, 64)
		if err != nil || q != p {
			continue
		}
		if ns < 0 || math.IsNaN(ns) || ns >= math.MaxInt64 {
			return 0, fmt.Errorf("fio latency percentile %s: impossible figure %v ns", label, ns)
		}
		return time.Duration(ns), nil
	}
	return 0, fmt.Errorf("fio latency: no percentile %v", p)
}

// Parse decodes fio's JSON output. fio's nbd engine prints a line such as
// "fio: connected to NBD server" on stdout before the JSON, so anything
// before the first '{' is skipped, and so is anything after the document.
func Parse(out []byte) (Output, error) {
	i := bytes.IndexByte(out, '{')
	if i < 0 {
		return Output{}, errors.New("parse fio output: no JSON object in it")
	}
	var o Output
	if err := json.NewDecoder(bytes.NewReader(out[i:])).Decode(&o); err != nil {
		return Output{}, fmt.Errorf("parse fio output: %w", err)
	}
	return o, nil
}

// Verified says whether a write-then-verify job (--do_verify=1) finished
// without error having written size bytes and read all of them back.
func (j Job) Verified(size int64) error {
	if j.Error != 0 || j.Write.IOBytes != size || j.Read.IOBytes != size {
		return fmt.Errorf("fio job %s: error %d, wrote %d, verified %d; want 0, %d, %d",
			j.Name, j.Error, j.Write.IOBytes, j.Read.IOBytes, size, size)
	}
	return nil
}
