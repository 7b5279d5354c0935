package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

func TestWorkloadCounts(t *testing.T) {
	tests := []struct {
		name                string
		ev                  timeline.Event
		ok, failed, unknown int
	}{
		{"generator window", timeline.Event{Name: "writes", Detail: map[string]string{"writes": "10", "ok": "7", "failed": "2", "unknown": "1"}}, 7, 2, 1},
		{"counts without ok", timeline.Event{Detail: map[string]string{"count": "10", "failed": "3"}}, 7, 3, 0},
		{"single ok", timeline.Event{Name: "write ok"}, 1, 0, 0},
		{"named failure", timeline.Event{Name: "write failed", Detail: map[string]string{"count": "4"}}, 0, 4, 0},
		{"outcome detail", timeline.Event{Name: "write", Detail: map[string]string{"outcome": "unknown"}}, 0, 0, 1},
		{"garbage counts", timeline.Event{Detail: map[string]string{"ok": "many", "failed": "-3"}}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, f, u := workloadCounts(tt.ev)
			if ok != tt.ok || f != tt.failed || u != tt.unknown {
				t.Fatalf("workloadCounts = %d/%d/%d, want %d/%d/%d", ok, f, u, tt.ok, tt.failed, tt.unknown)
			}
		})
	}
}

func TestFaultTarget(t *testing.T) {
	tests := []struct {
		ev   timeline.Event
		want string
	}{
		{timeline.Event{Lane: "node-1", Name: "node-stop"}, "node-1"},
		{timeline.Event{Lane: "im-delete", Name: "im-delete", Detail: map[string]string{"node": "node-2"}}, "node-2"},
		{timeline.Event{Lane: "engine-crash", Name: "engine-crash", Detail: map[string]string{"volume": "v1"}}, "v1"},
		{timeline.Event{Lane: "x", Name: "x"}, ""},
	}
	for _, tt := range tests {
		if got := faultTarget(tt.ev); got != tt.want {
			t.Errorf("faultTarget(%+v) = %q, want %q", tt.ev, got, tt.want)
		}
	}
}

func TestCheckerLaneConventions(t *testing.T) {
	t0 := sampleT0
	c := clock{t0: t0, d: time.Minute}
	vs := []checkers.Verdict{{Checker: "checksum", Outcome: checkers.Pass, At: t0.Add(10 * time.Second)}}
	evs := []timeline.Event{
		// The same verdict recorded by the harness and by checkers.Record: drawn once.
		{Time: t0.Add(10 * time.Second), Kind: timeline.KindChecker, Lane: "checkers", Name: "checksum", Detail: map[string]string{"outcome": "pass"}},
		{Time: t0.Add(10 * time.Second), Kind: timeline.KindChecker, Lane: "checker/checksum", Name: "pass"},
		// A failing history verdict known only from the timeline.
		{Time: t0.Add(40 * time.Second), Kind: timeline.KindChecker, Lane: "checker/history", Name: "fail", Detail: map[string]string{"summary": "2 lost writes"}},
	}
	l := checkerLane(c, vs, evs, t0.Add(time.Minute))
	if len(l.Marks) != 2 {
		t.Fatalf("%d marks, want 2: %+v", len(l.Marks), l.Marks)
	}
	if l.Marks[0].Color != colGood || l.Marks[1].Color != colBad {
		t.Errorf("colours = %s, %s; want pass then fail", l.Marks[0].Color, l.Marks[1].Color)
	}
	if !strings.Contains(l.Marks[1].Title, "history: fail 2 lost writes") {
		t.Errorf("title = %q", l.Marks[1].Title)
	}
}

func TestStateLaneFoldsFlapping(t *testing.T) {
	t0 := sampleT0
	c := clock{t0: t0, d: time.Hour}
	var evs []timeline.Event
	evs = append(evs, timeline.Event{Time: t0, Name: "healthy"})
	for i := range 100 { // 100 changes within one second of an hour-long axis
		evs = append(evs, timeline.Event{Time: t0.Add(10*time.Minute + time.Duration(i)*10*time.Millisecond), Name: []string{"ERR", "starting"}[i%2]})
	}
	evs = append(evs, timeline.Event{Time: t0.Add(20 * time.Minute), Name: "healthy"})
	evs = append(evs, timeline.Event{Time: t0.Add(21 * time.Minute), Name: "healthy"}) // repeat sample: merged
	l := stateLane(c, "replica r", evs, t0.Add(time.Hour), map[string]string{})
	var colours []string
	for _, s := range l.Segs {
		colours = append(colours, s.Color)
	}
	// healthy, then the flapping folded into one busy run, then the ERR/starting
	// run that lasted until 20m (wide enough to draw), then healthy.
	if len(l.Segs) != 4 || colours[0] != colGood || colours[1] != colBusy || colours[3] != colGood {
		t.Fatalf("segments = %v", colours)
	}
	if !strings.Contains(l.Segs[1].Title, "99 state changes") {
		t.Errorf("busy title = %q", l.Segs[1].Title)
	}
}

func TestClassifyState(t *testing.T) {
	tests := map[string]string{
		"attached/healthy":  colGood,
		"attached/degraded": colWarn,
		"attached/faulted":  colBad,
		"RW":                colGood,
		"ERR":               colBad,
		"detached/unknown":  colIdle,
		"frobnicating":      "",
	}
	for in, want := range tests {
		if got := classifyState(in); got != want {
			t.Errorf("classifyState(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTicksAndDurations(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, 900 * time.Millisecond, 10 * time.Second, 8 * time.Minute, 3 * time.Hour, 1<<63 - 1} {
		ts := ticks(d)
		if len(ts) < 1 || len(ts) > 13 {
			t.Errorf("ticks(%v): %d ticks", d, len(ts))
		}
		for i, tk := range ts {
			if tk.X < picPlotX || tk.X > picPlotX+picPlotW+0.01 || (i > 0 && tk.X <= ts[i-1].X) {
				t.Errorf("ticks(%v)[%d] at %.1f out of the plot or order", d, i, tk.X)
			}
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 850 * time.Millisecond: "850ms", 12500 * time.Millisecond: "12.5s",
		3*time.Minute + 5*time.Second: "3m05s", 62 * time.Minute: "1h02m"} {
		if got := formatDur(d); got != want {
			t.Errorf("formatDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestLongLaneLabelsAreShortened(t *testing.T) {
	sc := Scenario{Start: sampleT0, End: sampleT0.Add(time.Minute), Timeline: []timeline.Event{
		{Time: sampleT0, Kind: timeline.KindState, Lane: strings.Repeat("replica-with-a-very-long-name-", 4), Name: "RW"},
	}}
	p := layoutPicture(sc)
	l := p.Lanes[0]
	if !strings.HasSuffix(l.Label, "…") || len([]rune(l.Label)) > 32 || !strings.Contains(l.Detail, sc.Timeline[0].Lane) {
		t.Errorf("label %q (tooltip %q) not shortened with the full name in the tooltip", l.Label, l.Detail)
	}
}
