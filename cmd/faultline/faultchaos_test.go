package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFaultApplyRefusesBadInput: a bad file or flag is refused with the
// reason and exit 2 before any cluster is asked.
func TestFaultApplyRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	typo := write("typo.yaml", "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: x}\nspec: {action: pod-kill, mdoe: one, selector: {}}\n")
	pod := write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
	good := write("good.yaml", "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: x}\nspec: {action: pod-kill, mode: one, selector: {labelSelectors: {app: a}}}\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"fault", "apply"}, "name a file of Chaos Mesh objects"},
		{"missing file", []string{"fault", "apply", filepath.Join(dir, "none.yaml")}, "no such file"},
		{"two files", []string{"fault", "delete", good, good}, "unexpected argument"},
		{"a typo", []string{"fault", "apply", typo}, `unknown field "spec.mdoe"`},
		{"not Chaos Mesh", []string{"fault", "apply", pod}, "not a Chaos Mesh object"},
		{"bad output", []string{"fault", "apply", good, "--output", "xml"}, "xml"},
		{"no such cluster", []string{"fault", "apply", good, "--kind-name", "no-such-cluster-fl", "--kind", "/nonexistent/kind"}, "no cluster no-such-cluster-fl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := cli(t, tc.args...)
			if code != exitNotRun || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 2 with %q in stderr:\n%s", code, tc.want, stderr)
			}
		})
	}
}
