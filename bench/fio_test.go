package bench

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The testdata files are fio 3.33's real output (stdout) from runs against
// nbdkit's file plugin; connect-refused is a run with no server listening,
// where fio exits 1 but still prints a report with no I/O in it.
func TestParseFio(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string
		want    FioResult
	}{
		{
			file: "fio-seqwrite-nbdkit.json",
			want: FioResult{WriteBytesPerSec: 1615005971, WriteIOPS: 1540.189715, WriteP99: 24772608},
		},
		{
			file: "fio-randrw-nbdkit.json",
			want: FioResult{
				ReadBytesPerSec: 127786197, ReadIOPS: 31197.802198,
				WriteBytesPerSec: 127266525, WriteIOPS: 31070.929071,
				ReadP99: 2703360, WriteP99: 8093696,
			},
		},
		{file: "fio-connect-refused.json", wantErr: "no I/O"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseFio(b)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFioResultTotals(t *testing.T) {
	r := FioResult{ReadBytesPerSec: 127786197, WriteBytesPerSec: 127266525, ReadIOPS: 31197.8, WriteIOPS: 31070.9}
	if got := r.MBps(); math.Abs(got-255.052722) > 1e-6 {
		t.Errorf("MBps %v, want 255.052722", got)
	}
	if got := r.IOPS(); math.Abs(got-62268.7) > 1e-6 {
		t.Errorf("IOPS %v, want 62268.7", got)
	}
}

func TestParseFioRejects(t *testing.T) {
	tests := map[string]string{
		"empty":       "",
		"no json":     "fio: connected to NBD server\n",
		"truncated":   `{"jobs": [{"jobname": "x", "read": {"bw_bytes": 1`,
		"no jobs":     `{"fio version": "fio-3.33", "jobs": []}`,
		"job error":   `{"jobs": [{"jobname": "x", "error": 5, "read": {"total_ios": 3}}]}`,
		"negative bw": `{"jobs": [{"jobname": "x", "write": {"bw_bytes": -1, "total_ios": 3}}]}`,
		"wrong type":  `{"jobs": [{"jobname": "x", "write": {"bw_bytes": "fast"}}]}`,
		"overflow":    `{"jobs": [{"read": {"bw_bytes": 1e308, "total_ios": 1}, "write": {"bw_bytes": 1e308}}]}`,
		"no p99":      `{"jobs": [{"jobname": "x", "write": {"bw_bytes": 1, "total_ios": 3, "clat_ns": {"percentile": {"50.000000": 9}}}}]}`,
		"bad p99":     `{"jobs": [{"jobname": "x", "read": {"bw_bytes": 1, "total_ios": 3, "clat_ns": {"percentile": {"99.000000": -5}}}}]}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if r, err := ParseFio([]byte(in)); err == nil {
				t.Fatalf("parsed %q as %+v, want an error", in, r)
			}
		})
	}
}

// FuzzParseFio starts from small documents shaped like fio's output: the
// real captures are several KiB, which makes minimizing new inputs slow.
func FuzzParseFio(f *testing.F) {
	f.Add([]byte("fio: connected to NBD server\n" +
		`{"fio version":"fio-3.33","jobs":[{"jobname":"s","error":0,` +
		`"read":{"io_bytes":0,"bw_bytes":0,"iops":0.0,"total_ios":0},` +
		`"write":{"io_bytes":3229614080,"bw_bytes":1615005971,"iops":1540.189715,"total_ios":3080,` +
		`"clat_ns":{"min":1,"max":9,"mean":5,"percentile":{"50.000000":4,"99.000000":24772608}}}}]}`))
	f.Add([]byte(`{"jobs":[{"jobname":"r","error":0,"read":{"bw_bytes":127786197,"iops":31197.8,"total_ios":62469,` +
		`"clat_ns":{"percentile":{"99.000000":2703360}}},"write":{"bw_bytes":127266525,"iops":31070.9,"total_ios":62215,` +
		`"clat_ns":{"percentile":{"99.000000":8093696}}}},{"jobname":"x","error":0}]}`))
	f.Add([]byte(`{"jobs":[{"jobname":"x","error":0,"read":{"total_ios":0},"write":{"total_ios":0}}]}`))
	f.Add([]byte(`{"jobs":[{"read":{"bw_bytes":1e308,"total_ios":1}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFio(b)
		if err != nil {
			return
		}
		if r.ReadP99 < 0 || r.WriteP99 < 0 || r.MBps() < 0 || r.IOPS() < 0 || math.IsNaN(r.MBps()) || math.IsNaN(r.IOPS()) || math.IsInf(r.MBps(), 0) || math.IsInf(r.IOPS(), 0) {
			t.Fatalf("accepted impossible figures %+v", r)
		}
	})
}

func TestFioArgs(t *testing.T) {
	w := DefaultWorkloads()
	got := FioArgs(w[1], "nbd://127.0.0.1:1/x", 256<<20, 10*time.Second)
	want := []string{
		"--name=randrw-4k-qd32", "--ioengine=nbd", "--uri=nbd://127.0.0.1:1/x", "--rw=randrw",
		"--bs=4096", "--iodepth=32", "--size=268435456", "--time_based=1", "--runtime=10",
		"--output-format=json", "--rwmixread=50",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("args\n%q\nwant\n%q", got, want)
	}
	seq := FioArgs(w[0], "u", 1<<20, 1500*time.Millisecond)
	if !slices.Contains(seq, "--bs=1048576") || !slices.Contains(seq, "--iodepth=8") || !slices.Contains(seq, "--runtime=1") {
		t.Errorf("sequential args %q", seq)
	}
	if slices.ContainsFunc(seq, func(s string) bool { return strings.HasPrefix(s, "--rwmixread") }) {
		t.Errorf("sequential write given a read mix: %q", seq)
	}
}

func TestWorkloadsNamed(t *testing.T) {
	tests := []struct {
		names   []string
		want    []string
		wantErr string
	}{
		{[]string{LatencyWorkload, "seqwrite-1m-qd8"}, []string{LatencyWorkload, "seqwrite-1m-qd8"}, ""},
		{WorkloadNames(), WorkloadNames(), ""},
		{[]string{"seqwrite-1m-qd8", "seqwrite-4m"}, nil, `unknown workload "seqwrite-4m"`},
	}
	for _, tt := range tests {
		ws, err := WorkloadsNamed(tt.names)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("WorkloadsNamed(%q) = %v, want an error mentioning %q", tt.names, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("WorkloadsNamed(%q): %v", tt.names, err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("WorkloadsNamed(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}
