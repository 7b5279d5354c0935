package chaosmesh

import (
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

var node2 = Target{Namespace: "refengine-system", Labels: map[string]string{"app": "refengine-node"}, Node: "faultline-worker2", Container: "node"}

// TestObjectsPassChaosMeshChecks: what faultline submits passes the
// defaulting and validation of Chaos Mesh's own admission webhook, is
// aimed at the one node's pod, and converts to what a dynamic client
// creates (no status); what that webhook refuses is refused here first.
func TestObjectsPassChaosMeshChecks(t *testing.T) {
	noContainer := node2
	noContainer.Container = ""
	tests := []struct {
		name    string
		obj     *v1alpha1.PodChaos
		action  string
		wantErr string // "" when the object must be accepted
	}{
		{"instance-manager deletion", PodKill("f1", node2, 30), "pod-kill", ""},
		{"container kill", ContainerKill("f2", node2), "container-kill", ""},
		{"container kill without a container", ContainerKill("f3", noContainer), "container-kill", "the name of container is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Validated(tt.obj)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Validated: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validated: %v", err)
			}
			u, err := Unstructured(v)
			if err != nil {
				t.Fatal(err)
			}
			if u.GetAPIVersion() != "chaos-mesh.org/v1alpha1" || u.GetKind() != "PodChaos" || u.GetNamespace() != "refengine-system" {
				t.Errorf("object %s %s in %q", u.GetAPIVersion(), u.GetKind(), u.GetNamespace())
			}
			if _, ok := u.Object["status"]; ok {
				t.Error("the object carries a status")
			}
			spec := u.Object["spec"].(map[string]any)
			sel := spec["selector"].(map[string]any)
			if spec["action"] != tt.action || spec["mode"] != "one" || sel["nodes"].([]any)[0] != "faultline-worker2" ||
				sel["labelSelectors"].(map[string]any)["app"] != "refengine-node" {
				t.Errorf("spec %v", spec)
			}
		})
	}
}

// TestPartition: a partition between two nodes' pods passes Chaos Mesh's
// checks, aims at node a's pod with node b's as the target, and says
// which way packets are lost.
func TestPartition(t *testing.T) {
	node3 := node2
	node3.Node = "faultline-worker3"
	for _, toOnly := range []bool{false, true} {
		nc, err := Validated(Partition("p", node2, node3, toOnly))
		if err != nil {
			t.Fatal(err)
		}
		want := v1alpha1.Both
		if toOnly {
			want = v1alpha1.To
		}
		if nc.Spec.Action != v1alpha1.PartitionAction || nc.Spec.Direction != want || nc.Spec.Mode != v1alpha1.OneMode ||
			nc.Spec.Selector.Nodes[0] != "faultline-worker2" || nc.Spec.Target == nil || nc.Spec.Target.Selector.Nodes[0] != "faultline-worker3" ||
			nc.Spec.Target.Selector.LabelSelectors["app"] != "refengine-node" {
			t.Errorf("toOnly=%t: spec %+v target %+v", toOnly, nc.Spec, nc.Spec.Target)
		}
	}
	bad := Partition("q", node2, node3, false)
	bad.Spec.Target.Mode, bad.Spec.Target.Value = v1alpha1.FixedPercentMode, "150"
	if _, err := Validated(bad); err == nil || !strings.Contains(err.Error(), "value") {
		t.Errorf("a partition of 150%% of the target: %v, want Chaos Mesh's refusal", err)
	}
}
