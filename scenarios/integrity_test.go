package scenarios

import (
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/workload"
)

func TestJudgeWritable(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	write := func(sec int, outcome workload.Outcome) workload.Op {
		return workload.Op{Kind: workload.OpWrite, Offset: int64(sec) * 4096, Length: 4096, Outcome: outcome,
			Invoke: time.Duration(sec) * time.Second, Return: time.Duration(sec)*time.Second + time.Millisecond, Error: "nbd: EIO (input/output error)"}
	}
	vol := func(sec int, st, rob string) state.Sample {
		return state.Sample{Time: start.Add(time.Duration(sec) * time.Second), Kind: state.KindVolume, Name: "v", State: st, Robustness: rob}
	}
	volume := func(st, rob string) *api.Volume {
		return &api.Volume{Name: "v", Status: api.VolumeStatus{State: st, Robustness: rob}}
	}
	healthy := vol(0, api.VolumeAttached, api.RobustnessHealthy)
	faulted := vol(4, api.VolumeAttaching, api.RobustnessFaulted)
	for _, tc := range []struct {
		name    string
		ops     []workload.Op
		samples []state.Sample
		now     *api.Volume
		want    checkers.Outcome
	}{
		{"every write ok", []workload.Op{write(1, workload.OK), write(2, workload.OK)}, []state.Sample{healthy}, volume(api.VolumeAttached, api.RobustnessHealthy), checkers.Pass},
		{"failed while healthy", []workload.Op{write(1, workload.OK), write(5, workload.Failed)}, []state.Sample{healthy}, nil, checkers.Fail},
		{"failed while faulted, healthy again now", []workload.Op{write(5, workload.Failed)}, []state.Sample{healthy, faulted}, volume(api.VolumeAttached, api.RobustnessHealthy), checkers.Fail},
		{"failed while faulted, still faulted", []workload.Op{write(5, workload.Unknown)}, []state.Sample{healthy, faulted}, volume(api.VolumeAttaching, api.RobustnessFaulted), checkers.Pass},
		{"failed while degraded", []workload.Op{write(5, workload.Failed)}, []state.Sample{healthy, vol(3, api.VolumeAttached, api.RobustnessDegraded)}, nil, checkers.Fail},
		{"failed flush only", []workload.Op{{Kind: workload.OpFlush, Outcome: workload.Failed}}, []state.Sample{healthy}, nil, checkers.Pass},
	} {
		v := judgeWritable("v", start, tc.ops, tc.samples, tc.now)
		if v.Outcome != tc.want || v.Checker != volumeWritable {
			t.Errorf("%s: %s %s, want %s", tc.name, v.Outcome, v.Summary, tc.want)
		}
	}
}
