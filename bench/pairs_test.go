package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeBench stands in for the targets and fio: each call to measure is
// logged and answered from the figures given for that target and workload,
// one per call, in order.
type fakeBench struct {
	figures  map[string][]float64 // "target/workload" -> MB/s of successive runs
	failAt   map[string]int       // "target/workload" -> the call that fails
	startErr map[string]error
	calls    []string
}

func (f *fakeBench) targets(names ...string) []target {
	var ts []target
	for _, n := range names {
		ts = append(ts, target{name: n})
	}
	return ts
}

func (f *fakeBench) start(_ context.Context, t target) (string, error) {
	f.calls = append(f.calls, "start "+t.name)
	return "nbd://" + t.name, f.startErr[t.name]
}

func (f *fakeBench) measure(_ context.Context, name, uri string, w Workload) (FioResult, error) {
	key := name + "/" + w.Name
	f.calls = append(f.calls, key)
	if uri != "nbd://"+name {
		return FioResult{}, fmt.Errorf("measure %s given %s", name, uri)
	}
	n := 0
	for _, c := range f.calls {
		if c == key {
			n++
		}
	}
	if f.failAt[key] == n {
		return FioResult{}, errors.New("fio failed")
	}
	v := f.figures[key][n-1]
	return FioResult{WriteBytesPerSec: v * 1e6, WriteIOPS: v, WriteP99: time.Duration(v) * time.Microsecond}, nil
}

func TestMeasurePairs(t *testing.T) {
	seq, rnd := Workload{Name: "seq"}, Workload{Name: "rnd"}
	tests := []struct {
		name    string
		targets []string
		repeat  int
		fake    fakeBench
		calls   []string
		want    []Result // Runs are checked by count only
	}{{
		name:    "pairs back to back",
		targets: []string{Baseline, "lvol", "raid"},
		repeat:  3,
		fake: fakeBench{figures: map[string][]float64{
			Baseline + "/seq": {100, 100, 100, 90, 110, 100}, Baseline + "/rnd": {10, 20, 30, 40, 50, 60},
			"lvol/seq": {80, 40, 90}, "lvol/rnd": {5, 10, 15},
			"raid/seq": {45, 50, 55}, "raid/rnd": {40, 10, 40},
		}},
		calls: []string{
			"start " + Baseline,
			"start lvol",
			Baseline + "/seq", "lvol/seq", Baseline + "/seq", "lvol/seq", Baseline + "/seq", "lvol/seq",
			Baseline + "/rnd", "lvol/rnd", Baseline + "/rnd", "lvol/rnd", Baseline + "/rnd", "lvol/rnd",
			"start raid",
			Baseline + "/seq", "raid/seq", Baseline + "/seq", "raid/seq", Baseline + "/seq", "raid/seq",
			Baseline + "/rnd", "raid/rnd", Baseline + "/rnd", "raid/rnd", Baseline + "/rnd", "raid/rnd",
		},
		want: []Result{
			{Target: Baseline, Workload: "seq", MBps: 100, MBpsMin: 90, MBpsMax: 110, IOPS: 100, WriteP99: 100 * time.Microsecond, BaselineMBps: 100, Ratio: 1, Runs: make([]FioResult, 6)},
			{Target: Baseline, Workload: "rnd", MBps: 35, MBpsMin: 10, MBpsMax: 60, IOPS: 35, WriteP99: 35 * time.Microsecond, BaselineMBps: 35, Ratio: 1, Runs: make([]FioResult, 6)},
			{Target: "lvol", Workload: "seq", MBps: 80, MBpsMin: 40, MBpsMax: 90, IOPS: 80, WriteP99: 80 * time.Microsecond, BaselineMBps: 100, Ratio: 0.8, Runs: make([]FioResult, 3)},
			{Target: "lvol", Workload: "rnd", MBps: 10, MBpsMin: 5, MBpsMax: 15, IOPS: 10, WriteP99: 10 * time.Microsecond, BaselineMBps: 20, Ratio: 0.5, Runs: make([]FioResult, 3)},
			{Target: "raid", Workload: "seq", MBps: 50, MBpsMin: 45, MBpsMax: 55, IOPS: 50, WriteP99: 50 * time.Microsecond, BaselineMBps: 100, Ratio: 0.5, Runs: make([]FioResult, 3)},
			{Target: "raid", Workload: "rnd", MBps: 40, MBpsMin: 10, MBpsMax: 40, IOPS: 40, WriteP99: 40 * time.Microsecond, BaselineMBps: 50, Ratio: 0.8, Runs: make([]FioResult, 3)},
		},
	}, {
		name:    "baseline alone",
		targets: []string{Baseline},
		repeat:  2,
		fake:    fakeBench{figures: map[string][]float64{Baseline + "/seq": {100, 200}, Baseline + "/rnd": {1, 3}}},
		calls:   []string{"start " + Baseline, Baseline + "/seq", Baseline + "/seq", Baseline + "/rnd", Baseline + "/rnd"},
		want: []Result{
			{Target: Baseline, Workload: "seq", MBps: 150, MBpsMin: 100, MBpsMax: 200, IOPS: 150, WriteP99: 150 * time.Microsecond, BaselineMBps: 150, Ratio: 1, Runs: make([]FioResult, 2)},
			{Target: Baseline, Workload: "rnd", MBps: 2, MBpsMin: 1, MBpsMax: 3, IOPS: 2, WriteP99: 2 * time.Microsecond, BaselineMBps: 2, Ratio: 1, Runs: make([]FioResult, 2)},
		},
	}, {
		name:    "baseline with nothing to pair",
		targets: []string{Baseline, "dead"},
		repeat:  2,
		fake: fakeBench{
			startErr: map[string]error{"dead": errors.New("node exited")},
			figures:  map[string][]float64{Baseline + "/seq": {100, 200}, Baseline + "/rnd": {1, 3}},
		},
		calls: []string{"start " + Baseline, "start dead", Baseline + "/seq", Baseline + "/seq", Baseline + "/rnd", Baseline + "/rnd"},
		want: []Result{
			{Target: Baseline, Workload: "seq", MBps: 150, MBpsMin: 100, MBpsMax: 200, IOPS: 150, WriteP99: 150 * time.Microsecond, BaselineMBps: 150, Ratio: 1, Runs: make([]FioResult, 2)},
			{Target: Baseline, Workload: "rnd", MBps: 2, MBpsMin: 1, MBpsMax: 3, IOPS: 2, WriteP99: 2 * time.Microsecond, BaselineMBps: 2, Ratio: 1, Runs: make([]FioResult, 2)},
			{Target: "dead", Workload: "seq", Error: "start: node exited"},
			{Target: "dead", Workload: "rnd", Error: "start: node exited"},
		},
	}, {
		name:    "no baseline, no ratio",
		targets: []string{"lvol"},
		repeat:  1,
		fake:    fakeBench{figures: map[string][]float64{"lvol/seq": {7}, "lvol/rnd": {3}}},
		calls:   []string{"start lvol", "lvol/seq", "lvol/rnd"},
		want: []Result{
			{Target: "lvol", Workload: "seq", MBps: 7, MBpsMin: 7, MBpsMax: 7, IOPS: 7, WriteP99: 7 * time.Microsecond, Runs: make([]FioResult, 1)},
			{Target: "lvol", Workload: "rnd", MBps: 3, MBpsMin: 3, MBpsMax: 3, IOPS: 3, WriteP99: 3 * time.Microsecond, Runs: make([]FioResult, 1)},
		},
	}, {
		// A target that cannot start costs no fio runs, not even its
		// baseline's; a run that fails ends its series, and no baseline
		// runs are made for it after that.
		name:    "failures",
		targets: []string{Baseline, "dead", "flaky"},
		repeat:  2,
		fake: fakeBench{
			startErr: map[string]error{"dead": errors.New("node exited")},
			failAt:   map[string]int{"flaky/seq": 2},
			figures: map[string][]float64{
				Baseline + "/seq": {100, 100}, Baseline + "/rnd": {10, 10},
				"flaky/seq": {50}, "flaky/rnd": {5, 5},
			},
		},
		calls: []string{
			"start " + Baseline, "start dead", "start flaky",
			Baseline + "/seq", "flaky/seq", Baseline + "/seq", "flaky/seq",
			Baseline + "/rnd", "flaky/rnd", Baseline + "/rnd", "flaky/rnd",
		},
		want: []Result{
			{Target: Baseline, Workload: "seq", MBps: 100, MBpsMin: 100, MBpsMax: 100, IOPS: 100, WriteP99: 100 * time.Microsecond, BaselineMBps: 100, Ratio: 1, Runs: make([]FioResult, 2)},
			{Target: Baseline, Workload: "rnd", MBps: 10, MBpsMin: 10, MBpsMax: 10, IOPS: 10, WriteP99: 10 * time.Microsecond, BaselineMBps: 10, Ratio: 1, Runs: make([]FioResult, 2)},
			{Target: "dead", Workload: "seq", Error: "start: node exited"},
			{Target: "dead", Workload: "rnd", Error: "start: node exited"},
			{Target: "flaky", Workload: "seq", Error: "fio failed", Runs: make([]FioResult, 1)},
			{Target: "flaky", Workload: "rnd", MBps: 5, MBpsMin: 5, MBpsMax: 5, IOPS: 5, WriteP99: 5 * time.Microsecond, BaselineMBps: 10, Ratio: 0.5, Runs: make([]FioResult, 2)},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake
			got := measurePairs(t.Context(), f.targets(tt.targets...), []Workload{seq, rnd}, tt.repeat, f.start, f.measure)
			if !slices.Equal(f.calls, tt.calls) {
				t.Errorf("calls\n%s\nwant\n%s", strings.Join(f.calls, "\n"), strings.Join(tt.calls, "\n"))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d results, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if len(g.Runs) != len(w.Runs) {
					t.Errorf("%s/%s: %d runs, want %d", g.Target, g.Workload, len(g.Runs), len(w.Runs))
				}
				g.Runs, w.Runs = nil, nil
				if math.Abs(g.Ratio-w.Ratio) < 1e-9 {
					g.Ratio = w.Ratio
				}
				if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w) {
					t.Errorf("result %d\n%+v\nwant\n%+v", i, g, w)
				}
			}
		})
	}
}

// A cancelled run starts no further target, and the targets it never
// reached get rows saying so rather than no rows.
func TestMeasurePairsStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	f := fakeBench{figures: map[string][]float64{Baseline + "/seq": {1}, "a/seq": {1}}}
	measure := func(ctx context.Context, name, uri string, w Workload) (FioResult, error) {
		r, err := f.measure(ctx, name, uri, w)
		if name == "a" {
			cancel()
		}
		return r, err
	}
	got := measurePairs(ctx, f.targets(Baseline, "a", "b"), []Workload{{Name: "seq"}}, 1, f.start, measure)
	if slices.Contains(f.calls, "start b") {
		t.Errorf("started b after the context was cancelled: %q", f.calls)
	}
	if len(got) != 3 || got[2].Target != "b" || got[2].Error == "" {
		t.Errorf("results %+v, want b's row to say it did not run", got)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1}, 2},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 100}, 3.5},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its input: %v", tt.in)
		}
	}
}
