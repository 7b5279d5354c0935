package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
)

func TestSoakSummary(t *testing.T) {
	sum := newSoakSummary()
	sum.fault(soakEngineCrash, "fault 1: engine-crash v-e-0")
	sum.fault(soakNodeStop, "fault 2: node-stop node-2 for 5s")
	sum.fault(soakEngineCrash, "fault 3: engine-crash v-e-0")
	for _, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		sum.recovered(d)
	}
	sum.round()
	sum.note("check round 1 after fault 3: 2 of 2 checks passed")
	sum.check(checkers.Verdict{Checker: "history", Outcome: checkers.Pass})
	sum.check(checkers.Verdict{Checker: "replicas-equal", Outcome: checkers.Pass})

	want := map[string]string{
		"faults engine-crash":   "2",
		"faults node-stop":      "1",
		"faults total":          "3",
		"check rounds":          "1",
		"checks history":        "1 pass, 0 fail, 0 unknown",
		"checks replicas-equal": "1 pass, 0 fail, 0 unknown",
		"recoveries":            "count 3, median 2s, max 3s",
	}
	got := map[string]string{}
	for _, e := range sum.lines() {
		got[e.What] = e.Actual
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("summary %q = %q, want %q", k, got[k], w)
		}
	}
	if n := len(sum.Schedule()); n != 4 {
		t.Errorf("schedule has %d lines, want 3 faults and 1 check round", n)
	}

	v := sum.verdict(time.Minute, true)
	if v.Checker != soakSummaryChecker || v.Outcome != checkers.Pass || !strings.Contains(v.Summary, "3 faults, 1 check rounds, every check passed") {
		t.Errorf("completed soak: %+v", v)
	}
	if v := sum.verdict(time.Minute, false); v.Outcome != checkers.Fail {
		t.Errorf("soak that did not complete: %s, want fail", v.Outcome)
	}
	sum.check(checkers.Verdict{Checker: "replicas-equal", Outcome: checkers.Fail})
	if v := sum.verdict(time.Minute, true); v.Outcome != checkers.Fail || !strings.Contains(v.Summary, "1 checks not passed") {
		t.Errorf("soak with a failed check: %+v", v)
	}
}

func TestRecoveryStats(t *testing.T) {
	if got := recoveryStats(nil); got != "count 0" {
		t.Errorf("no recoveries: %q", got)
	}
	if got := recoveryStats([]time.Duration{1500 * time.Millisecond}); got != "count 1, median 1.5s, max 1.5s" {
		t.Errorf("one recovery: %q", got)
	}
}
