package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/internal/gobuild"
	"github.com/faultline/faultline/internal/testtool"
)

// buildBinaries builds faultline and (unless FAULTLINE_REFENGINE names
// one) refengine, skipping while refengine cannot run a cluster.
func buildBinaries(t *testing.T) (faultline, refengine string) {
	t.Helper()
	faultline = testtool.Build(t, gobuild.Faultline)
	refengine = testtool.Refengine(t)
	if _, err := local.Probe(t.Context(), refengine); err != nil {
		if errors.Is(err, local.ErrNoManager) || errors.Is(err, local.ErrNoNode) {
			t.Skipf("refengine cannot run a cluster yet: %v", err)
		}
		t.Fatal(err)
	}
	return faultline, refengine
}

// TestClusterUpStatusDown drives a detached cluster through the CLI, the way
// a user does by hand, across separate faultline processes.
func TestClusterUpStatusDown(t *testing.T) {
	fl, ref := buildBinaries(t)
	dir := filepath.Join(t.TempDir(), "c")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(fl, args...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("faultline %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	t.Cleanup(func() { exec.Command(fl, "cluster", "down", "--dir", dir).Run() })

	if code, out := run("cluster", "up", "--dir", dir, "--nodes", "2", "--disk-size", "67108864", "--refengine", ref); code != 0 {
		t.Fatalf("cluster up: exit %d\n%s", code, out)
	}
	if code, out := run("cluster", "up", "--dir", dir, "--refengine", ref); code != exitNotRun {
		t.Errorf("second cluster up in the same dir: exit %d, want 2\n%s", code, out)
	}
	code, out := run("cluster", "status", "--dir", dir, "--json")
	if code != 0 {
		t.Fatalf("cluster status: exit %d\n%s", code, out)
	}
	var st cluster.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if !st.Manager.Running || !st.Manager.Ready || len(st.Nodes) != 2 {
		t.Fatalf("status: %+v", st)
	}
	pids := []int{st.Manager.PID}
	for _, n := range st.Nodes {
		if !n.Running || !n.Ready {
			t.Fatalf("node not up: %+v", n)
		}
		pids = append(pids, n.PID)
	}

	// Another process attaches and injects a fault through the supervisor.
	r, err := local.Attach(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StopNode(t.Context(), "node-2"); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Status(t.Context()); s.Nodes[1].Running || !s.Nodes[1].Stopped {
		t.Fatalf("node-2 after StopNode via control socket: %+v", s.Nodes[1])
	}
	if err := r.StartNode(t.Context(), "node-2"); err != nil {
		t.Fatal(err)
	}
	s, _ := r.Status(t.Context())
	pids = append(pids, s.Nodes[1].PID)
	state, err := local.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	pids = append(pids, state.Supervisor)

	if code, out := run("cluster", "down", "--dir", dir); code != 0 {
		t.Fatalf("cluster down: exit %d\n%s", code, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for local.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if local.Alive(pid) {
			t.Errorf("pid %d alive after cluster down", pid)
		}
	}
	if code, out := run("cluster", "status", "--dir", dir); code != 0 {
		t.Errorf("status of a stopped cluster: exit %d\n%s", code, out)
	}
}
