package scenarios

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
)

func TestSampleOf(t *testing.T) {
	obj := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := time.Now()
	vol := api.Volume{Name: "v", Status: api.VolumeStatus{State: api.VolumeAttached, Robustness: "healthy", Node: "node-1"}}
	rep := api.Replica{Name: "v-r-1", Spec: api.ReplicaSpec{Node: "node-2"}, Status: api.ReplicaStatus{State: api.InstanceRunning, Mode: api.ModeRW}}
	for _, tc := range []struct {
		name string
		ev   api.Event
		want state.Sample
		ok   bool
	}{
		{"volume", api.Event{Time: now, Kind: api.KindVolume, Name: "v", Type: api.EventUpdated, Object: obj(vol)},
			state.Sample{Time: now, Kind: state.KindVolume, Name: "v", State: "attached", Robustness: "healthy", Node: "node-1"}, true},
		{"replica", api.Event{Time: now, Kind: api.KindReplica, Name: "v-r-1", Type: api.EventCreated, Object: obj(rep)},
			state.Sample{Time: now, Kind: state.KindReplica, Name: "v-r-1", State: "running", Node: "node-2", Detail: map[string]string{"mode": "RW"}}, true},
		{"deleted", api.Event{Time: now, Kind: api.KindVolume, Name: "v", Type: api.EventDeleted, Object: obj(vol)},
			state.Sample{Time: now, Kind: state.KindVolume, Name: "v", State: "deleted", Robustness: "healthy", Node: "node-1"}, true},
		{"node is not tracked", api.Event{Kind: api.KindNode, Name: "node-1", Object: obj(map[string]string{})}, state.Sample{}, false},
		{"bad object", api.Event{Kind: api.KindVolume, Name: "v", Object: json.RawMessage(`[1,2`)}, state.Sample{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := sampleOf(tc.ev)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tc.want)
			if string(gb) != string(wb) {
				t.Errorf("sample\n got %s\nwant %s", gb, wb)
			}
		})
	}
}
