package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestComputeBackupRatios(t *testing.T) {
	results := []BackupResult{
		{Target: "file", Op: opCp, Baseline: opCp, MBps: 400},
		{Target: "file", Op: opCpBack, Baseline: opCpBack, MBps: 200},
		{Target: "file", Op: opFullBackup, Baseline: opCp, MBps: 100},
		{Target: "file", Op: opFullRestore, Baseline: opCpBack, MBps: 300},
		{Target: "file", Op: opIncrBackup, Baseline: opCp, MBps: 50, Error: "boom"},
		{Target: "s3", Op: opPut2MiB, Baseline: opPut2MiB, Error: "down"},
		{Target: "s3", Op: opFullBackup, Baseline: opPut2MiB, MBps: 100}, // failed baseline
		{Target: "s3", Op: opGet2MiB, Baseline: opGet2MiB, MBps: 50, Skipped: "no"},
		{Target: "s3", Op: opFullRestore, Baseline: opGet2MiB, MBps: 100}, // skipped baseline
		{Target: "s3", Op: opIncrRestore, Baseline: opCp, MBps: 100},      // other target's baseline
		{Target: "file", Op: "x", MBps: 10},                               // no baseline
	}
	computeBackupRatios(results)
	want := []float64{1, 1, 0.25, 1.5, 0, 0, 0, 0, 0, 0, 0}
	for i, r := range results {
		if math.Abs(r.Ratio-want[i]) > 1e-9 {
			t.Errorf("%s/%s: ratio %v, want %v", r.Target, r.Op, r.Ratio, want[i])
		}
	}
}

func TestBestOf(t *testing.T) {
	a := []BackupResult{
		{Op: "fast-first", Seconds: 1, MBps: 100},
		{Op: "fast-second", Seconds: 2, MBps: 50},
		{Op: "second-failed", Seconds: 1, MBps: 100},
		{Op: "first-failed", Error: "x"},
		{Op: "skipped", Skipped: "no tool"},
		{Op: "once", Seconds: 3, MBps: 33},
	}
	b := []BackupResult{
		{Op: "fast-first", Seconds: 1.5, MBps: 66},
		{Op: "fast-second", Seconds: 1, MBps: 100},
		{Op: "second-failed", Error: "y"},
		{Op: "first-failed", Seconds: 1},
		{Op: "skipped", Skipped: "no tool"},
		{Op: "once"},
	}
	got := bestOf(a, b)
	check := func(i int, seconds float64, errText string, runs int) {
		t.Helper()
		g := got[i]
		if g.Seconds != seconds || g.Error != errText || len(g.Runs) != runs {
			t.Errorf("%s: %+v, want seconds %v, error %q, %d runs", g.Op, g, seconds, errText, runs)
		}
	}
	check(0, 1, "", 2)
	check(1, 1, "", 2)
	check(2, 0, "y", 0)
	check(3, 0, "x", 0)
	check(4, 0, "", 0)
	check(5, 3, "", 0)
	if got[1].MBps != 100 || got[1].Runs[0] != 2 || got[1].Runs[1] != 1 {
		t.Errorf("fast-second: %+v, want the second run's rate and both times in order", got[1])
	}
}

func TestWriteBackupTable(t *testing.T) {
	rep := &BackupReport{VolumeBytes: 1 << 30, Compression: "lz4", Concurrency: 4, ChangedPercent: 5, ChangedBlocks: 26, Seconds: 61,
		Results: []BackupResult{
			{Target: "file", Op: opCp, Baseline: opCp, Seconds: 2, MBps: 536.9, Ratio: 1, BytesRead: 1 << 30, BytesUploaded: 1 << 30, Runs: []float64{2.5, 2}},
			{Target: "file", Op: opIncrBackup, Baseline: opCp, Seconds: 1, MBps: 1073.7, Ratio: 2, BytesRead: 1 << 30, BytesUploaded: 41_000_000},
			{Target: "file", Op: opFullRestore, Baseline: opCpBack, Error: "restore: block at 0: not found\nmore"},
			{Target: "s3", Op: "all", Skipped: "versitygw not found"},
		}}
	var b bytes.Buffer
	if err := WriteBackupTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("table has %d lines, want 6:\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[0], "1024 MiB volume") || !strings.Contains(lines[0], "26 blocks") {
		t.Errorf("title %q lacks the volume size or the changed blocks", lines[0])
	}
	want := [][]string{
		{"target", "operation", "seconds", "MB/s", "ratio", "against", "MB", "read", "MB", "up", "MB", "pulled", "MB", "written", "runs", "(s)"},
		{"file", opCp, "2.00", "536.9", "1.00", "-", "1073.7", "1073.7", "-", "-", "2.50", "2.00"},
		{"file", opIncrBackup, "1.00", "1073.7", "2.00", opCp, "1073.7", "41.0", "-", "-", "-"},
		{"file", opFullRestore, "-", "-", "-", "-", "-", "-", "-", "-", "-", "error:", "restore:", "block", "at", "0:", "not", "found"},
		{"s3", "all", "-", "-", "-", "-", "-", "-", "-", "-", "-", "skipped:", "versitygw", "not", "found"},
	}
	for i, w := range want {
		if got := strings.Fields(lines[i+1]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: %q, want fields %q", i+1, lines[i+1], w)
		}
	}
}
