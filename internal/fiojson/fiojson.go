// Package fiojson reads fio's --output-format=json: the per-job figures
// that interop tests assert on and that refbench sums into throughput.
package fiojson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
