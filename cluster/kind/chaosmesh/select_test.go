package chaosmesh

import (
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(ns, name, node, app string, terminating bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{NodeName: node}}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

// TestSelectPods: the native executor picks the pods Chaos Mesh would for
// faultline's selectors, never a terminating one, and refuses selectors
// it does not understand instead of picking other pods.
func TestSelectPods(t *testing.T) {
	pods := []corev1.Pod{
		pod("refengine-system", "node-b", "w2", "refengine-node", false),
		pod("refengine-system", "node-a", "w2", "refengine-node", true), // the deleted one, still terminating
		pod("refengine-system", "node-c", "w3", "refengine-node", false),
		pod("refengine-system", "manager-x", "w1", "refengine-manager", false),
		pod("other", "node-z", "w2", "refengine-node", false),
	}
	im := Target{Namespace: "refengine-system", Labels: map[string]string{"app": "refengine-node"}, Node: "w2"}
	all := PodKill("all", Target{Namespace: "refengine-system", Labels: map[string]string{"app": "refengine-node"}}, 0)
	all.Spec.Mode = v1alpha1.AllMode
	fixed := PodKill("fixed", im, 0)
	fixed.Spec.Mode, fixed.Spec.Value = v1alpha1.FixedMode, "1"
	byName := PodKill("by-name", im, 0)
	byName.Spec.Selector.Pods = map[string][]string{"refengine-system": {"node-b"}}
	nowhere := im
	nowhere.Node = "w9"
	tests := []struct {
		name    string
		pc      *v1alpha1.PodChaos
		want    []string
		wantErr string
	}{
		{"one node's instance manager", PodKill("im", im, 30), []string{"node-b"}, ""},
		{"every instance manager", all, []string{"node-b", "node-c"}, ""},
		{"the manager", PodKill("mgr", Target{Namespace: "refengine-system", Labels: map[string]string{"app": "refengine-manager"}}, 0), []string{"manager-x"}, ""},
		{"no pod on that node", PodKill("none", nowhere, 0), nil, "no pod matches"},
		{"mode fixed", fixed, nil, "does not carry out mode fixed"},
		{"pods by name", byName, nil, "does not carry out selector.pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectPods(tt.pc, pods)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SelectPods: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("picked %v, want %v", names, tt.want)
			}
		})
	}
}
