package scenarios

import (
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
)

func TestSawOutage(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	sample := func(sec int, name, st, rob string) state.Sample {
		return state.Sample{Time: t0.Add(time.Duration(sec) * time.Second), Kind: state.KindVolume, Name: name, State: st, Robustness: rob}
	}
	up := func(sec int) state.Sample { return sample(sec, "v", api.VolumeAttached, api.RobustnessHealthy) }
	for _, tc := range []struct {
		name    string
		samples []state.Sample
		want    bool
	}{
		{"nothing seen", nil, false},
		{"only healthy", []state.Sample{up(1), up(2)}, false},
		{"outage before the fault does not count", []state.Sample{sample(-1, "v", api.VolumeAttaching, api.RobustnessUnknown), up(1)}, false},
		{"attaching after the fault", []state.Sample{up(1), sample(2, "v", api.VolumeAttaching, api.RobustnessFaulted), up(3)}, true},
		{"degraded counts", []state.Sample{sample(1, "v", api.VolumeAttached, api.RobustnessDegraded)}, true},
		{"another volume's outage", []state.Sample{sample(1, "w", api.VolumeAttaching, api.RobustnessFaulted)}, false},
		{"a replica's error is not the volume's", []state.Sample{{Time: t0.Add(time.Second), Kind: state.KindReplica, Name: "v", State: api.InstanceError}}, false},
	} {
		if got := sawOutage(tc.samples, "v", t0); got != tc.want {
			t.Errorf("%s: sawOutage = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestRecoverySummary(t *testing.T) {
	took := []time.Duration{3 * time.Second, time.Second, 2 * time.Second}
	v := recoverySummary(took, 3, time.Minute)
	if v.Outcome != checkers.Pass || len(v.Evidence) != 3 || v.Summary != "3/3 recoveries within 1m0s: median 2s, max 3s, total 6s" {
		t.Errorf("all recovered: %+v", v)
	}
	if v := recoverySummary(took[:2], 3, time.Minute); v.Outcome != checkers.Fail {
		t.Errorf("2 of 3 recovered: outcome %s, want fail", v.Outcome)
	}
	if v := recoverySummary(nil, 1, time.Minute); v.Outcome != checkers.Fail || v.Summary != "0/1 recoveries" {
		t.Errorf("none recovered: %+v", v)
	}
}
