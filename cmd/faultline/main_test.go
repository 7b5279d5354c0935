package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/scenarios"
)

// cli runs faultline in-process and returns exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := realMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestFlagErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no command", nil, "usage: faultline"},
		{"unknown command", []string{"explode"}, `unknown command "explode"`},
		{"unknown flag", []string{"run", "--no-such-flag"}, "flag provided but not defined"},
		{"bad cluster", []string{"run", "--cluster", "k8s"}, `--cluster "k8s": want local or kind`},
		{"kind without a node image", []string{"run", "--cluster", "kind", "--kind-node-image", ""}, "kind: no node image: build one with `make kind-node-image`"},
		{"kind with a latest image", []string{"run", "--cluster", "kind", "--kind-node-image", "n:1", "--refengine-image", "r:latest"}, "never latest"},
		{"bad label filter", []string{"run", "--label-filter", "smoke &&"}, "--label-filter"},
		{"unknown scenario", []string{"run", "--scenario", "nope"}, `no such scenario (have: smoke`},
		{"bad seed", []string{"run", "--seed", "banana"}, "invalid value"},
		{"negative seed", []string{"run", "--seed", "-4"}, "non-negative"},
		{"zero repeat", []string{"run", "--repeat", "0"}, "--repeat 0"},
		{"bad nodes", []string{"run", "--nodes", "0"}, "--nodes 0"},
		{"bad iterations", []string{"run", "--iterations", "-1"}, "--iterations -1"},
		{"bad defect", []string{"run", "--defects", "ok-one,Bad Name"}, `"Bad Name" is not a defect name`},
		{"missing refengine", []string{"run", "--refengine", "/nonexistent/refengine"}, "--refengine"},
		{"stray argument", []string{"run", "smoke"}, `unexpected argument "smoke"`},
		{"list stray argument", []string{"list", "x"}, `unexpected argument "x"`},
		{"report without dir", []string{"report"}, "want exactly one report directory"},
		{"report of empty dir", []string{"report", t.TempDir()}, "faultline report:"},
		{"mutation stray argument", []string{"mutation", "x"}, `unexpected argument "x"`},
		{"cluster without verb", []string{"cluster"}, "usage: faultline cluster"},
		{"cluster bad verb", []string{"cluster", "explode"}, `unknown subcommand "explode"`},
		{"cluster status nothing there", []string{"cluster", "status", "--dir", t.TempDir()}, "no cluster in"},
		{"cluster down nothing there", []string{"cluster", "down", "--dir", t.TempDir()}, "faultline cluster down:"},
		{"cluster up bad nodes", []string{"cluster", "up", "--nodes", "0"}, "--nodes 0"},
		{"cluster status bad output", []string{"cluster", "status", "--output", "yaml"}, `--output "yaml": want table or json`},
		{"cluster env stray argument", []string{"cluster", "env", "x"}, `unexpected argument "x"`},
		{"fault without verb", []string{"fault"}, "usage: faultline fault"},
		{"fault inject without kind", []string{"fault", "inject"}, "name a fault kind"},
		{"fault inject unknown parameter", []string{"fault", "inject", "pause", "--node", "n", "--disk", "d"}, "flag provided but not defined: -disk"},
		{"fault inject bad value", []string{"fault", "inject", "disk-error", "--node", "n", "--io-type", "sideways"}, `io-type "sideways": want one of read`},
		{"fault heal kind and all", []string{"fault", "heal", "--all", "pause"}, "--all heals every fault"},
		{"fault list bad output", []string{"fault", "list", "--output", "yaml"}, `--output "yaml"`},
		{"cluster up bad disk", []string{"cluster", "up", "--disk-size", "1000"}, `"1000": want a multiple of 1 MiB`},
		{"soak unknown flag", []string{"soak", "--no-such-flag"}, "flag provided but not defined"},
		{"soak stray argument", []string{"soak", "x"}, `unexpected argument "x"`},
		{"zero duration", []string{"soak", "--duration", "0s"}, "--duration 0s"},
		{"bad duration", []string{"soak", "--duration", "forever"}, "invalid value"},
		{"zero volumes", []string{"soak", "--volumes", "0"}, "--volumes 0"},
		{"bad check-every", []string{"soak", "--check-every", "0"}, "--check-every 0"},
		{"one node", []string{"soak", "--nodes", "1"}, "--nodes 1: want 2..200"},
		{"unknown fault kind", []string{"soak", "--fault-kinds", "engine-crash,meteor"}, `fault kind "meteor"`},
		{"soak negative seed", []string{"soak", "--seed", "-3"}, "non-negative"},
		{"soak bad defect", []string{"soak", "--defects", "Bad Name"}, `"Bad Name" is not a defect name`},
		{"bad disk size", []string{"soak", "--disk-size", "3K"}, "want a multiple of 1 MiB"},
		{"soak missing refengine", []string{"soak", "--refengine", "/nonexistent/refengine"}, "--refengine"},
		{"run bad disk size", []string{"run", "--disk-size", "0"}, "-disk-size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := cli(t, tc.args...)
			if code != exitNotRun {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "\x1b[") || strings.Contains(stderr, "{{") {
				t.Errorf("stderr has terminal escapes or templates:\n%q", stderr)
			}
		})
	}
}

func TestHelpExits0(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"list", "-h"}, {"report", "--help"}, {"cluster", "--help"}, {"cluster", "up", "--help"},
		{"cluster", "env", "--help"}, {"cluster", "status", "--help"}, {"fault", "--help"}, {"fault", "inject", "--help"},
		{"fault", "inject", "network-partition", "--help"}, {"fault", "heal", "-h"}, {"fault", "list", "--help"}} {
		code, stdout, stderr := cli(t, args...)
		if code != exitPass {
			t.Errorf("%v: exit %d", args, code)
		}
		if !strings.Contains(stdout+stderr, "usage: faultline") {
			t.Errorf("%v: no usage text:\n%s%s", args, stdout, stderr)
		}
	}
}

func TestList(t *testing.T) {
	code, stdout, stderr := cli(t, "list")
	if code != exitPass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if !strings.HasPrefix(lines[0], "SCENARIO") {
		t.Errorf("no header: %q", lines[0])
	}
	cat := scenarios.Catalogue()
	if len(lines) != len(cat)+1 {
		t.Fatalf("want %d rows, got:\n%s", len(cat)+1, stdout)
	}
	for i, e := range cat {
		f := strings.Fields(lines[i+1])
		if f[0] != e.Name || f[1] != strings.Join(e.Labels, ",") || !strings.Contains(lines[i+1], e.Description) {
			t.Errorf("row %q does not show %+v", lines[i+1], e)
		}
	}
}

func TestListJSON(t *testing.T) {
	code, stdout, stderr := cli(t, "list", "--json")
	if code != exitPass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []scenarios.Info
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("list --json does not parse: %v\n%s", err, stdout)
	}
	var smoke *scenarios.Info
	for i := range got {
		if got[i].Name == "smoke" {
			smoke = &got[i]
		}
	}
	if smoke == nil || len(smoke.Labels) == 0 || smoke.Labels[0] != "smoke" || smoke.Description == "" || smoke.Timeout == "" {
		t.Fatalf("smoke missing or incomplete in %+v", got)
	}
}

func TestPrepareOutDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	a, err := prepareOut("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := prepareOut("")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two runs got the same directory %s", a)
	}
	link, err := os.Readlink(filepath.Join(dir, "runs", "latest"))
	if err != nil || link != filepath.Base(b) {
		t.Fatalf("runs/latest -> %q (%v), want %q", link, err, filepath.Base(b))
	}
}
