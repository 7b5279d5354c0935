package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	three := []FioResult{{}, {}, {}}
	results := []Result{
		{Target: Baseline, Workload: "seqwrite-1m-qd8", MBps: 1615.006, MBpsMin: 1500.04, MBpsMax: 1700.06,
			IOPS: 1540.2, WriteP99: 24772608, Ratio: 1, Runs: three},
		{Target: "refengine-lvol", Workload: "seqwrite-1m-qd8", MBps: 1292.0048, MBpsMin: 1292.0048, MBpsMax: 1292.0048,
			IOPS: 1232.16, WriteP99: 1500, Ratio: 0.8, Runs: three[:1]},
		{Target: "refengine-lvol", Workload: "randread", MBps: 10, MBpsMin: 9, MBpsMax: 11, IOPS: 2560, Runs: three},
		{Target: "refengine-raid1x2", Workload: "seqwrite-1m-qd8", Error: "start: node exited\nlong log"},
	}
	var b bytes.Buffer
	if err := WriteTable(&b, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("table has %d lines, want 5:\n%s", len(lines), b.String())
	}
	wantFields := [][]string{
		{"target", "workload", "runs", "MB/s", "min", "max", "IOPS", "p99", "write", "µs", "ratio"},
		{Baseline, "seqwrite-1m-qd8", "3", "1615.0", "1500.0", "1700.1", "1540", "24773", "1.00"},
		{"refengine-lvol", "seqwrite-1m-qd8", "1", "1292.0", "1292.0", "1292.0", "1232", "2", "0.80"},
		{"refengine-lvol", "randread", "3", "10.0", "9.0", "11.0", "2560", "-", "-"},
		{"refengine-raid1x2", "seqwrite-1m-qd8", "0", "-", "-", "-", "-", "-", "-", "error:", "start:", "node", "exited"},
	}
	for i, want := range wantFields {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d: %q, want fields %q", i, lines[i], want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	// The directory need not exist yet (runs/bench/ on a fresh checkout).
	path := filepath.Join(t.TempDir(), "runs", "bench", "bench.json")
	rep := Report{Baseline: Baseline, Size: 1 << 20, Results: []Result{{Target: "x", Workload: "w", MBps: 1.5, Ratio: 0.5}}}
	if err := WriteJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != 1 || got.Results[0].MBps != 1.5 || got.Results[0].Ratio != 0.5 || got.Size != 1<<20 {
		t.Fatalf("round trip gave %+v", got)
	}
	if !strings.Contains(string(b), `"ratio_to_baseline": 0.5`) {
		t.Errorf("JSON lacks the ratio field name:\n%s", b)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"268435456", 268435456},
		{"256M", 256 << 20},
		{"256MiB", 256 << 20},
		{"256mb", 256 << 20},
		{"1G", 1 << 30},
		{"4k", 4096},
		{"2TiB", 2 << 40},
		{"512B", 512},
		{" 64M ", 64 << 20},
		{"", -1},
		{"M", -1},
		{"-5M", -1},
		{"0", -1},
		{"1.5G", -1},
		{"5ib", -1},
		{"12X", -1},
		{"99999999999999999999", -1},
		{"9000000T", -1},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"256MiB", "1G", "4k", "0", "-1", "1.5G", "99999999999999999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n <= 0 {
			t.Fatalf("ParseSize(%q) = %d without an error", s, n)
		}
	})
}
