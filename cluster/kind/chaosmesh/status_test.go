package chaosmesh

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestReadInjection reads statuses as Chaos Mesh wrote them on a kind
// cluster (make chaos-mesh): a pod-kill it injected, and a partition of
// hostNetwork pods it refused to inject.
func TestReadInjection(t *testing.T) {
	tests := []struct {
		name         string
		status       string
		wantInjected bool
		wantTimes    int
		wantFailure  string
	}{
		{"injected", `{"conditions":[{"status":"True","type":"Selected"},{"status":"True","type":"AllInjected"},{"status":"False","type":"AllRecovered"},{"status":"False","type":"Paused"}],
			"experiment":{"containerRecords":[{"events":[{"operation":"Apply","timestamp":"2026-11-30T20:19:19Z","type":"Succeeded"}],"id":"refengine-system/refengine-node-4f27g","injectedCount":1,"phase":"Injected","recoveredCount":0,"selectorKey":"."}]}}`,
			true, 1, ""},
		{"refused", `{"conditions":[{"status":"False","type":"Paused"},{"status":"True","type":"Selected"},{"status":"False","type":"AllInjected"},{"status":"False","type":"AllRecovered"}],
			"experiment":{"containerRecords":[{"events":[{"message":"It's dangerous to inject network chaos on a pod(refengine-system/refengine-node-brj7r) with ` + "`hostNetwork`" + `","operation":"Apply","timestamp":"2026-11-30T20:23:07Z","type":"Failed"}],"id":"refengine-system/refengine-node-brj7r","injectedCount":0,"phase":"Not Injected/Wait","recoveredCount":0,"selectorKey":"."}]}}`,
			false, 0, "refengine-system/refengine-node-brj7r: It's dangerous to inject network chaos"},
		{"not reconciled yet", ``, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos"}}
			if tt.status != "" {
				var st map[string]any
				if err := json.Unmarshal([]byte(tt.status), &st); err != nil {
					t.Fatal(err)
				}
				u.Object["status"] = st
			}
			in, err := ReadInjection(u)
			if err != nil {
				t.Fatal(err)
			}
			if in.Injected != tt.wantInjected || len(in.Times) != tt.wantTimes {
				t.Errorf("injected %v with %d times, want %v with %d", in.Injected, len(in.Times), tt.wantInjected, tt.wantTimes)
			}
			if tt.wantInjected && (len(in.Targets) != 1 || in.Targets[0] != "refengine-system/refengine-node-4f27g") {
				t.Errorf("targets %q, want the pod Chaos Mesh killed", in.Targets)
			}
			if !tt.wantInjected && len(in.Targets) > 0 {
				t.Errorf("targets %q of a fault not injected", in.Targets)
			}
			if tt.wantFailure == "" && len(in.Failures) > 0 || tt.wantFailure != "" && (len(in.Failures) == 0 || !strings.HasPrefix(in.Failures[0], tt.wantFailure)) {
				t.Errorf("failures %q, want %q", in.Failures, tt.wantFailure)
			}
		})
	}
}
