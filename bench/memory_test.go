package bench

import (
	"strings"
	"testing"
	"time"
)

// rssSeries makes n samples a second apart whose sizes f gives.
func rssSeries(n int, f func(i int) int64) []RSSSample {
	s := make([]RSSSample, n)
	for i := range s {
		s[i] = RSSSample{At: time.Duration(i) * time.Second, Bytes: f(i)}
	}
	return s
}

func TestTrendOf(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name     string
		samples  []RSSSample
		wantGrew bool
		wantErr  string
	}{
		{"flat", rssSeries(60, func(int) int64 { return 40 * mb }), false, ""},
		{"warm-up then flat", rssSeries(60, func(i int) int64 { return min(int64(10+i*5), 45) * mb }), false, ""},
		{"noise within the slack", rssSeries(60, func(i int) int64 { return int64(40+(i%3)*3) * mb }), false, ""},
		{"shrinking", rssSeries(60, func(i int) int64 { return int64(100-i) * mb }), false, ""},
		{"leak of 1 MiB a sample", rssSeries(60, func(i int) int64 { return int64(40+i) * mb }), true, ""},
		{"slow leak in a big process", rssSeries(60, func(i int) int64 { return 1000*mb + int64(i)*3*mb }), true, ""},
		{"growth under 5 % of a big process", rssSeries(60, func(i int) int64 { return 1000*mb + int64(i)*mb/2 }), false, ""},
		{"a late jump", rssSeries(60, func(i int) int64 {
			if i > 40 {
				return 80 * mb
			}
			return 40 * mb
		}), true, ""},
		{"too few", rssSeries(7, func(int) int64 { return mb }), false, "at least 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := TrendOf(tt.samples)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("TrendOf = %+v, %v; want an error with %q", tr, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tr.Grew != tt.wantGrew {
				t.Fatalf("TrendOf = %+v (growth %d MiB); want grew=%v", tr, tr.Growth()/mb, tt.wantGrew)
			}
			if tr.Max < tr.Start || tr.Max < tr.End {
				t.Fatalf("TrendOf = %+v: max below start or end", tr)
			}
		})
	}
}

func TestMemoryReportFailed(t *testing.T) {
	steady := NodeRSS{Node: "a", Samples: rssSeries(8, func(int) int64 { return 1 << 20 }), RSSTrend: RSSTrend{Start: 1 << 20, End: 1 << 20, Max: 1 << 20}}
	grew := steady
	grew.Grew = true
	tests := []struct {
		name string
		r    MemoryReport
		want bool
	}{
		{"steady", MemoryReport{Volumes: []MemoryVolume{{Name: "v"}}, Nodes: []NodeRSS{steady}}, false},
		{"grew", MemoryReport{Nodes: []NodeRSS{steady, grew}}, true},
		{"volume failed", MemoryReport{Volumes: []MemoryVolume{{Name: "v", Error: "fio failed"}}, Nodes: []NodeRSS{steady}}, true},
		{"node not sampled", MemoryReport{Nodes: []NodeRSS{{Node: "a", Error: "exited"}}}, true},
		{"did not run", MemoryReport{Error: "no refengine"}, true},
	}
	for _, tt := range tests {
		if got := tt.r.Failed(); got != tt.want {
			t.Errorf("%s: Failed() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestConfigMemory(t *testing.T) {
	tests := []struct {
		dur, every time.Duration
		wantErr    string
	}{
		{0, 0, ""},
		{8 * time.Second, time.Second, ""},
		{7 * time.Second, time.Second, "fewer than 8 samples"},
		{500 * time.Millisecond, 10 * time.Millisecond, "at least 1s"},
		{time.Minute, -time.Second, "must be positive"},
	}
	for _, tt := range tests {
		c := Config{MemoryDuration: tt.dur, MemoryInterval: tt.every}
		err := c.checkMemory()
		if tt.wantErr == "" {
			if err != nil || c.MemoryDuration <= 0 || c.MemoryInterval <= 0 {
				t.Errorf("%s/%s: %v (config %s/%s)", tt.dur, tt.every, err, c.MemoryDuration, c.MemoryInterval)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s/%s: %v, want an error with %q", tt.dur, tt.every, err, tt.wantErr)
		}
	}
}

// TestRunMemory runs the memory benchmark for a few seconds: two nodes,
// three raid1 volumes under fio, and RSS samples of both nodes.
func TestRunMemory(t *testing.T) {
	rep := runRefengine(t, Config{
		Size:           16 << 20,
		Runtime:        time.Second,
		Jobs:           []string{JobMemory},
		MemoryDuration: 4 * time.Second,
		MemoryInterval: 400 * time.Millisecond,
	})
	m := rep.Memory
	if m == nil || m.Error != "" || len(m.Volumes) != 3 || len(m.Nodes) != 2 {
		t.Fatalf("memory report %+v, want 3 volumes on 2 nodes", m)
	}
	for _, v := range m.Volumes {
		if v.Error != "" || v.Fio.IOPS() <= 0 {
			t.Errorf("volume %s: %+v, want load", v.Name, v)
		}
	}
	for _, n := range m.Nodes {
		if n.Error != "" || len(n.Samples) < minRSSSamples || n.Start <= 0 || n.Max < n.Start {
			t.Errorf("node %s: %d samples, trend %+v, error %q", n.Node, len(n.Samples), n.RSSTrend, n.Error)
		}
	}
	var out strings.Builder
	if err := WriteMemoryTable(&out, m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mem-a", "mem-b", "randwrite-4k-qd1", "start MiB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
