package main

import (
	"strings"
	"testing"
)

func TestMutationFlagErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown flag", []string{"mutation", "--no-such-flag"}, "flag provided but not defined"},
		{"stray argument", []string{"mutation", "x"}, `unexpected argument "x"`},
		{"zero repeat", []string{"mutation", "--repeat", "0"}, "--repeat 0"},
		{"bad iterations", []string{"mutation", "--iterations", "-2"}, "--iterations -2"},
		{"negative seed", []string{"mutation", "--seed", "-1"}, "--seed -1"},
		{"bad nodes", []string{"mutation", "--nodes", "0"}, "--nodes 0"},
		{"bad timeout", []string{"mutation", "--timeout", "0s"}, "--timeout 0s"},
		{"no such row", []string{"mutation", "--scenario", "instance-manager-restart-loop", "--defect", "rebuild-snapshot-kept"}, `no such row of the mutation table`},
		{"not a seed scenario", []string{"mutation", "--scenario", "smoke"}, `--scenario "smoke": not a seed scenario (have: instance-manager-restart-loop`},
		{"missing refengine", []string{"mutation", "--refengine", "/nonexistent/refengine"}, "--refengine"},
		{"refengine is a directory", []string{"mutation", "--refengine", t.TempDir()}, "is a directory"},
		{"unknown cluster", []string{"mutation", "--cluster", "k3s"}, `--cluster "k3s": want local or kind`},
		{"kind without a node image", []string{"mutation", "--cluster", "kind", "--kind-node-image", "", "--refengine-image", "faultline/refengine:1"}, "no node image"},
		{"kind with a refengine binary", []string{"mutation", "--cluster", "kind", "--refengine", "/bin/true"}, "--refengine is for --cluster local"},
		{"kind with a bad executor", []string{"mutation", "--cluster", "kind", "--kind-node-image", "n:1", "--refengine-image", "faultline/refengine:1", "--chaos-executor", "litmus"}, `chaos executor "litmus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := cli(t, tc.args...)
			if code != exitNotRun {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", tc.want, stderr)
			}
		})
	}
}

func TestMutationHelp(t *testing.T) {
	code, _, stderr := cli(t, "mutation", "--help")
	if code != exitPass || !strings.Contains(stderr, "-repeat") || !strings.Contains(stderr, "scenario × {clean, with defect}") {
		t.Errorf("exit %d; help:\n%s", code, stderr)
	}
}
