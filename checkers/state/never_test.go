package state

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
)

func TestNever(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	vol := func(name string, sec float64, robustness string) Sample {
		return Sample{Time: at(sec), Kind: KindVolume, Name: name, State: "attached", Robustness: robustness}
	}
	for _, tc := range []struct {
		name    string
		samples []Sample
		end     float64
		want    checkers.Outcome
		inSum   string
	}{
		{"never faulted", []Sample{vol("v", 0, "healthy"), vol("v", 5, "degraded"), vol("v", 9, "healthy")}, 20, checkers.Pass, "longest 0s"},
		{"briefly faulted", []Sample{vol("v", 0, "healthy"), vol("v", 2, "faulted"), vol("v", 6, "degraded"), vol("v", 8, "healthy")}, 20, checkers.Pass, "longest 4s"},
		{"faulted too long", []Sample{vol("v", 0, "healthy"), vol("v", 1, "faulted"), vol("v", 3, "faulted"), vol("v", 13, "healthy")}, 20, checkers.Fail, "for 12s"},
		{"still faulted at the check", []Sample{vol("v", 0, "healthy"), vol("v", 10, "faulted")}, 18, checkers.Fail, "still holding"},
		{"breaks reset the stretch", []Sample{vol("v", 0, "faulted"), vol("v", 4, "degraded"), vol("v", 5, "faulted"), vol("v", 9, "healthy")}, 20, checkers.Pass, "longest 4s"},
		{"only the sticky resource is named", []Sample{vol("a", 0, "faulted"), vol("a", 2, "healthy"), vol("b", 1, "faulted"), vol("b", 30, "healthy")}, 40, checkers.Fail, "volume/b for 29s"},
		{"unsorted input", []Sample{vol("v", 13, "healthy"), vol("v", 1, "faulted"), vol("v", 0, "healthy")}, 20, checkers.Fail, "for 12s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Never(tc.samples, RobustnessIs("faulted"), 5*time.Second, at(tc.end))
			if v.Outcome != tc.want || v.Checker != NameNever {
				t.Fatalf("%s %s: %s", v.Checker, v.Outcome, v.Summary)
			}
			if !strings.Contains(v.Summary+" "+evidenceText(v), tc.inSum) {
				t.Errorf("verdict lacks %q: %s %s", tc.inSum, v.Summary, evidenceText(v))
			}
			if v.Outcome == checkers.Fail && len(v.Evidence) == 0 {
				t.Error("a failing verdict carries no evidence")
			}
		})
	}
}

func TestNeverOnState(t *testing.T) {
	t0 := time.Now()
	samples := []Sample{
		{Time: t0, Kind: KindReplica, Name: "r1", State: "running"},
		{Time: t0.Add(time.Second), Kind: KindReplica, Name: "r1", State: "error"},
	}
	if v := Never(samples, StateIs("error"), time.Minute, t0.Add(2*time.Minute)); v.Outcome != checkers.Fail || !strings.Contains(v.Summary, "replica/r1") {
		t.Fatalf("replica in error for 2 min: %s %s", v.Outcome, v.Summary)
	}
	if v := Never(samples, StateIs("error"), time.Minute, t0.Add(30*time.Second)); v.Outcome != checkers.Pass {
		t.Fatalf("replica in error for 29 s: %s %s", v.Outcome, v.Summary)
	}
}

func evidenceText(v checkers.Verdict) string {
	var b strings.Builder
	for _, e := range v.Evidence {
		b.WriteString(e.Detail + " " + e.Actual + "; ")
	}
	return b.String()
}
