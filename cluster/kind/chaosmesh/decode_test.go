package chaosmesh

import (
	"strings"
	"testing"
)

const podKillYAML = `apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata:
  name: im-kill
spec:
  action: pod-kill
  mode: one
  selector:
    labelSelectors: {app: refengine-node}
    nodes: [faultline-worker2]
`

// TestDecode reads Chaos Mesh object files as faultline fault apply does:
// what Chaos Mesh accepts comes back defaulted, in the default namespace;
// what it would refuse, and what is not a Chaos Mesh fault, is refused
// with the reason.
func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    []string // refs
		wantErr string
	}{
		{"pod-kill", podKillYAML, []string{"PodChaos/refengine-system/im-kill"}, ""},
		{"two documents, one with a namespace", podKillYAML + "---\n" + `apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata: {name: cut, namespace: other}
spec:
  action: partition
  mode: all
  selector: {labelSelectors: {app: a}}
  direction: both
  target: {mode: all, selector: {labelSelectors: {app: b}}}
`, []string{"PodChaos/refengine-system/im-kill", "NetworkChaos/other/cut"}, ""},
		{"JSON", `{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"PodChaos","metadata":{"name":"j"},"spec":{"action":"pod-kill","mode":"one","selector":{"labelSelectors":{"app":"x"}}}}`, []string{"PodChaos/refengine-system/j"}, ""},
		{"a typo in a field", strings.Replace(podKillYAML, "mode: one", "mdoe: one", 1), nil, `unknown field "spec.mdoe"`},
		{"an action Chaos Mesh does not have", strings.Replace(podKillYAML, "pod-kill", "pod-explode", 1), nil, "pod-explode"},
		{"container-kill without containers", strings.Replace(podKillYAML, "pod-kill", "container-kill", 1), nil, "the name of container is required"},
		{"not Chaos Mesh", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", nil, "not a Chaos Mesh object"},
		{"unknown kind", "apiVersion: chaos-mesh.org/v1alpha1\nkind: DiskChaos\nmetadata: {name: d}\n", nil, `kind "DiskChaos": not a Chaos Mesh kind`},
		{"a schedule", "apiVersion: chaos-mesh.org/v1alpha1\nkind: Schedule\nmetadata: {name: s}\n", nil, "not a Chaos Mesh fault"},
		{"no name", strings.Replace(podKillYAML, "name: im-kill", "labels: {}", 1), nil, "without metadata.name"},
		{"empty", "", nil, "no Chaos Mesh object"},
		{"not YAML", "{[", nil, "document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode(strings.NewReader(tt.file), "refengine-system")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var refs []string
			for _, o := range objs {
				refs = append(refs, o.Ref())
				if _, ok := o.Unstructured.Object["status"]; ok {
					t.Errorf("%s carries a status", o.Ref())
				}
			}
			if strings.Join(refs, " ") != strings.Join(tt.want, " ") {
				t.Errorf("objects %v, want %v", refs, tt.want)
			}
			if pc := objs[0].PodChaos(); pc != nil && pc.Spec.Selector.Namespaces[0] != "refengine-system" {
				t.Errorf("selector namespaces %v: Chaos Mesh's defaulting was not applied", pc.Spec.Selector.Namespaces)
			}
		})
	}
}

// FuzzDecode: no file makes Decode panic, and whatever it accepts is a
// named Chaos Mesh object in a namespace.
func FuzzDecode(f *testing.F) {
	f.Add(podKillYAML)
	f.Add("apiVersion: chaos-mesh.org/v1alpha1\nkind: StressChaos\nmetadata: {name: s}\nspec: {mode: one, selector: {}, stressors: {cpu: {workers: 1}}}\n")
	f.Add("---\n---\n")
	f.Fuzz(func(t *testing.T, file string) {
		objs, err := Decode(strings.NewReader(file), "ns")
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Unstructured.GetName() == "" || o.Unstructured.GetNamespace() == "" || o.Unstructured.GetAPIVersion() != "chaos-mesh.org/v1alpha1" {
				t.Fatalf("accepted %v", o.Unstructured.Object)
			}
		}
	})
}
