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
