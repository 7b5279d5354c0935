package main

import (
	"strings"
	"testing"
)

// The help says what the soak does, lists its flags and the fault kinds,
// and faultline --help lists the subcommand.
func TestSoakHelp(t *testing.T) {
	code, stdout, stderr := cli(t, "soak", "--help")
	help := stdout + stderr
	if code != exitPass {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: faultline soak", "-duration", "-seed", "-volumes", "-nodes", "-out", "-refengine",
		"-defects", "-cluster-dir", "-disk-size", "-json", "-fault-kinds", "-check-every", "-cluster", "-kind-node-image",
		"node-stop, instance-manager-delete, engine-crash, replica-delete", "reproduces"} {
		if !strings.Contains(help, want) {
			t.Errorf("soak --help lacks %q:\n%s", want, help)
		}
	}
	code, stdout, _ = cli(t, "--help")
	if code != exitPass || !strings.Contains(stdout, "soak") {
		t.Errorf("faultline --help does not list soak:\n%s", stdout)
	}
}
