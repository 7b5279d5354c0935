package scenarios

import (
	"testing"
	"time"

	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
)

func TestSawRebuild(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rep := func(sec int, name, mode string) state.Sample {
		return state.Sample{Time: t0.Add(time.Duration(sec) * time.Second), Kind: state.KindReplica, Name: name,
			State: api.InstanceRunning, Detail: map[string]string{"mode": mode}}
	}
	for _, tc := range []struct {
		name    string
		samples []state.Sample
		want    bool
	}{
		{"nothing", nil, false},
		{"RW only", []state.Sample{rep(1, "v-r-aaaa", api.ModeRW)}, false},
		{"WO after the fault", []state.Sample{rep(1, "v-r-aaaa", api.ModeWO), rep(2, "v-r-aaaa", api.ModeRW)}, true},
		{"WO before the fault", []state.Sample{rep(-1, "v-r-aaaa", api.ModeWO)}, false},
		{"another volume's replica", []state.Sample{rep(1, "w-r-aaaa", api.ModeWO)}, false},
		{"a volume whose name extends v", []state.Sample{rep(1, "v2-r-aaaa", api.ModeWO)}, false},
		{"a volume sample", []state.Sample{{Time: t0.Add(time.Second), Kind: state.KindVolume, Name: "v-r-aaaa", Detail: map[string]string{"mode": api.ModeWO}}}, false},
	} {
		if got := sawRebuild(tc.samples, "v", t0); got != tc.want {
			t.Errorf("%s: sawRebuild = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestVolumeStateAt(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	vol := func(sec int, name, st, rob string) state.Sample {
		return state.Sample{Time: t0.Add(time.Duration(sec) * time.Second), Kind: state.KindVolume, Name: name, State: st, Robustness: rob}
	}
	samples := []state.Sample{
		vol(1, "v", api.VolumeAttached, api.RobustnessHealthy),
		vol(3, "v", api.VolumeAttached, api.RobustnessDegraded),
		vol(2, "w", api.VolumeAttaching, api.RobustnessFaulted),
		vol(5, "v", api.VolumeAttaching, api.RobustnessFaulted),
	}
	for _, tc := range []struct {
		sec          int
		state, robus string
	}{
		{0, "", ""},
		{1, api.VolumeAttached, api.RobustnessHealthy},
		{2, api.VolumeAttached, api.RobustnessHealthy},
		{4, api.VolumeAttached, api.RobustnessDegraded},
		{9, api.VolumeAttaching, api.RobustnessFaulted},
	} {
		st, rob := volumeStateAt(samples, "v", t0.Add(time.Duration(tc.sec)*time.Second))
		if st != tc.state || rob != tc.robus {
			t.Errorf("at %ds: %s/%s, want %s/%s", tc.sec, st, rob, tc.state, tc.robus)
		}
	}
}

func TestRecoveredView(t *testing.T) {
	if got := recoveredView(api.VolumeAttached, api.RobustnessHealthy, 3, 3, true, true); got != "attached/healthy 3/3 RW, outage seen, rebuild seen" {
		t.Errorf("recoveredView = %q", got)
	}
	if got := recoveredView(api.VolumeAttaching, api.RobustnessFaulted, 1, 3, false, false); got != "attaching/faulted 1/3 RW" {
		t.Errorf("recoveredView = %q", got)
	}
}

func TestLastChange(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	sample := func(ms int, kind state.Kind, name, st, rob, mode string) state.Sample {
		x := state.Sample{Time: at(ms), Kind: kind, Name: name, State: st, Robustness: rob}
		if mode != "" {
			x.Detail = map[string]string{"mode": mode}
		}
		return x
	}
	samples := []state.Sample{
		sample(-500, state.KindVolume, "v", api.VolumeAttached, api.RobustnessHealthy, ""),
		sample(-400, state.KindEngine, "v-e-0", api.InstanceRunning, "", ""),
		sample(100, state.KindEngine, "v-e-0", "deleted", "", ""),
		sample(100, state.KindVolume, "v", api.VolumeAttaching, api.RobustnessFaulted, ""),
		sample(150, state.KindEngine, "v-e-0", api.InstanceRunning, "", ""),
		sample(160, state.KindVolume, "v", api.VolumeAttached, api.RobustnessHealthy, ""),
		sample(300, state.KindReplica, "v-r-abcd1234", api.InstanceRunning, "", api.ModeRW),
		sample(900, state.KindReplica, "v-r-abcd1234", api.InstanceRunning, "", api.ModeRW), // rewritten, unchanged
		sample(700, state.KindVolume, "w", api.VolumeAttaching, api.RobustnessFaulted, ""),
		sample(5000, state.KindVolume, "v", api.VolumeDetaching, api.RobustnessHealthy, ""),
	}
	vols := map[string]int{"v": 3}
	if got := lastChange(samples, vols, at(0), at(1000)); !got.Equal(at(300)) {
		t.Errorf("lastChange = %v, want the replica's first sample at +300ms", got.Sub(t0))
	}
	if got := lastChange(samples, vols, at(400), at(1000)); !got.IsZero() {
		t.Errorf("nothing changed in [400ms, 1s]: got %v", got.Sub(t0))
	}
	if got := lastChange(samples, map[string]int{"w": 2}, at(0), at(1000)); !got.Equal(at(700)) {
		t.Errorf("volume w: %v, want +700ms", got.Sub(t0))
	}
	for name, want := range map[string]string{"v-r-abcd1234": "v", "my-r-vol-r-x": "my-r-vol", "v-e-0": "v", "loner": ""} {
		if got := volumeOf(state.Sample{Kind: state.KindReplica, Name: name}); got != want {
			t.Errorf("volumeOf(%s) = %q, want %q", name, got, want)
		}
	}
}
