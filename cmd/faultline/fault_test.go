package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/credential"
)

// runFaultline runs the faultline binary and returns its exit code, stdout
// and stderr.
func runFaultline(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("faultline %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// mustRun runs faultline and fails the test unless it exits 0.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	code, out, errs := runFaultline(t, bin, args...)
	if code != 0 {
		t.Fatalf("faultline %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// TestFaultHandsOn drives a detached cluster the way a person at a
// terminal does, each command its own faultline process: cluster up writes
// DIR/env, status shows the nodes' addresses, faults are injected, listed
// and healed across processes, bad input is refused with a clear error,
// and a second up keeps the manager URL and the node ports.
func TestFaultHandsOn(t *testing.T) {
	fl, ref := buildBinaries(t)
	dir := filepath.Join(t.TempDir(), "c")
	t.Cleanup(func() { exec.Command(fl, "cluster", "down", "--dir", dir).Run() })
	upArgs := []string{"cluster", "up", "--dir", dir, "--nodes", "2", "--disk-size", "67108864", "--refengine", ref}
	out := mustRun(t, fl, upArgs...)

	// cluster up wrote DIR/env, owner-only, with what cluster env prints.
	envPath := filepath.Join(dir, "env")
	if !strings.Contains(out, envPath) {
		t.Errorf("cluster up does not say where the env file is:\n%s", out)
	}
	fi, err := os.Stat(envPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", envPath, fi.Mode().Perm())
	}
	envFile, _ := os.ReadFile(envPath)
	envOut := mustRun(t, fl, "cluster", "env", "--dir", dir)
	if string(envFile) != envOut {
		t.Errorf("DIR/env\n%s\ndiffers from cluster env\n%s", envFile, envOut)
	}
	st, err := local.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := credential.Load(filepath.Join(dir, "cluster.token"))
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := "export REFENGINE_MANAGER=" + st.ManagerURL + "\nexport REFENGINE_TOKEN=" + tok.AdminAPIToken() + "\n"
	if envOut != wantEnv {
		t.Errorf("cluster env:\n%s\nwant\n%s", envOut, wantEnv)
	}

	// status shows every node's addresses, as text and as JSON.
	text := mustRun(t, fl, "cluster", "status", "--dir", dir)
	for _, n := range st.Nodes {
		for _, addr := range []string{n.RPC, n.NBD, n.Socket} {
			if !strings.Contains(text, addr) {
				t.Errorf("cluster status lacks %s of %s:\n%s", addr, n.Name, text)
			}
		}
	}
	view := statusJSON(t, fl, dir)
	if len(view.Nodes) != 2 {
		t.Fatalf("status --output json: %d nodes, want 2", len(view.Nodes))
	}
	for i, n := range view.Nodes {
		if n.RPC != st.Nodes[i].RPC || n.NBD != st.Nodes[i].NBD || n.Socket != st.Nodes[i].Socket || n.RPC == "" {
			t.Errorf("status --output json node %s: rpc %q nbd %q socket %q, want %+v", n.Name, n.RPC, n.NBD, n.Socket, st.Nodes[i])
		}
	}

	t.Run("node-stop", func(t *testing.T) {
		var rec faultRecord
		decode(t, mustRun(t, fl, "fault", "inject", "--cluster-dir", dir, "--output", "json", "node-stop", "--node", "node-2"), &rec)
		wantUndo := "faultline fault heal --cluster-dir " + dir + " node-stop --node node-2"
		if rec.Kind != "node-stop" || rec.Params["node"] != "node-2" || rec.Injected.IsZero() || rec.Undo != wantUndo {
			t.Errorf("inject: %+v, want undo %q", rec, wantUndo)
		}
		if n := statusJSON(t, fl, dir).Nodes[1]; n.Running || !n.Stopped {
			t.Errorf("node-2 after inject: %+v", n.ProcessStatus)
		}
		// A second inject of the same fault is refused.
		if code, _, errs := runFaultline(t, fl, "fault", "inject", "--cluster-dir", dir, "node-stop", "--node", "node-2"); code != exitFail || !strings.Contains(errs, "injected already") {
			t.Errorf("second inject: exit %d, %s", code, errs)
		}
		var list struct{ Active []faultRecord }
		decode(t, mustRun(t, fl, "fault", "list", "--cluster-dir", dir, "--output", "json"), &list)
		if len(list.Active) != 1 || list.Active[0].ID != "node-stop node=node-2" {
			t.Errorf("list: %+v", list.Active)
		}
		// The printed undo command heals it.
		args := strings.Fields(wantUndo)[1:]
		if out := mustRun(t, fl, args...); !strings.Contains(out, "healed node-stop node=node-2") {
			t.Errorf("heal: %s", out)
		}
		if n := statusJSON(t, fl, dir).Nodes[1]; !n.Running || !n.Ready || n.Stopped {
			t.Errorf("node-2 after heal: %+v", n.ProcessStatus)
		}
		if out := mustRun(t, fl, "fault", "list", "--cluster-dir", dir); !strings.Contains(out, "no fault is injected") {
			t.Errorf("list after heal:\n%s", out)
		}
	})

	t.Run("network-partition", func(t *testing.T) {
		code, out, errs := runFaultline(t, fl, "fault", "inject", "network-partition", "--a", "node-1", "--b", "manager", "--cluster-dir", dir)
		if code != 0 && strings.Contains(errs, "network partition unavailable") {
			t.Skipf("no nftables here: %s", errs)
		}
		if code != 0 {
			t.Fatalf("inject: exit %d\n%s%s", code, out, errs)
		}
		if !strings.Contains(out, "injected network-partition a=node-1 b=manager direction=both") ||
			!strings.Contains(out, "heal with: faultline fault heal --cluster-dir "+dir+" network-partition --a node-1 --b manager --direction both") {
			t.Errorf("inject:\n%s", out)
		}
		list := mustRun(t, fl, "fault", "list", "--cluster-dir", dir)
		if !strings.Contains(list, "network-partition a=node-1 b=manager direction=both") {
			t.Errorf("list:\n%s", list)
		}
		// Heal by kind and one side only.
		var healed struct{ Healed []faultRecord }
		decode(t, mustRun(t, fl, "fault", "heal", "--cluster-dir", dir, "--output", "json", "network-partition", "--a", "node-1"), &healed)
		if len(healed.Healed) != 1 || healed.Healed[0].Healed.IsZero() || healed.Healed[0].Error != "" {
			t.Errorf("heal: %+v", healed)
		}
	})

	t.Run("pause for a while", func(t *testing.T) {
		out := mustRun(t, fl, "fault", "inject", "--cluster-dir", dir, "--for", "1s", "pause", "--node", "node-1")
		if !strings.Contains(out, "healed by the supervisor at") {
			t.Errorf("inject --for:\n%s", out)
		}
		// The supervisor heals it by itself, from no shell at all.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var list struct{ Active []faultRecord }
			decode(t, mustRun(t, fl, "fault", "list", "--cluster-dir", dir, "--output", "json"), &list)
			if len(list.Active) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pause --for 1s still injected after 30s: %+v", list.Active)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := statusJSON(t, fl, dir).Nodes[0]; !n.Running || !n.Ready {
			t.Errorf("node-1 after the pause: %+v", n.ProcessStatus)
		}
	})

	t.Run("disk-error", func(t *testing.T) {
		var rec faultRecord
		decode(t, mustRun(t, fl, "fault", "inject", "--cluster-dir", dir, "--output", "json", "disk-error", "--node", "node-2", "--io-type", "read"), &rec)
		want := map[string]string{"node": "node-2", "io-type": "read", "count": "0", "error": "failure"}
		for k, v := range want {
			if rec.Params[k] != v {
				t.Errorf("inject: params %v, want %v", rec.Params, want)
				break
			}
		}
		var healed struct{ Healed []faultRecord }
		decode(t, mustRun(t, fl, "fault", "heal", "--cluster-dir", dir, "--output", "json", "--all"), &healed)
		if len(healed.Healed) != 1 || healed.Healed[0].Kind != "disk-error" || healed.Healed[0].Error != "" {
			t.Errorf("heal --all: %+v", healed)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			args []string
			code int
			want string
		}{
			{[]string{"inject", "node-explode"}, exitNotRun, `unknown fault kind "node-explode": want one of node-stop`},
			{[]string{"inject", "node-stop"}, exitNotRun, "parameter node is required"},
			{[]string{"inject", "node-stop", "--node", "node-9"}, exitFail, `node "node-9": unknown node (the cluster has node-1, node-2)`},
			{[]string{"inject", "network-partition", "--a", "node-1", "--b", "node-2", "--mode", "lose"}, exitNotRun, `mode "lose": want one of drop, reject`},
			{[]string{"inject", "replica-delete", "--replica", "no-such-replica"}, exitFail, "no-such-replica"},
			{[]string{"inject", "engine-crash", "--volume", "no-such-volume"}, exitFail, `volume "no-such-volume" has no engine`},
			{[]string{"inject", "manager-restart", "--for", "10s"}, exitFail, "--for does not apply"},
			{[]string{"heal", "pause", "--node", "node-1"}, exitFail, "no injected fault matches pause node=node-1 (no fault is injected)"},
			{[]string{"heal"}, exitNotRun, "name a fault kind"},
			{[]string{"list", "pause"}, exitNotRun, "takes no fault kind"},
			{[]string{"explode"}, exitNotRun, `unknown subcommand "explode"`},
		}
		for _, tc := range tests {
			args := append([]string{"fault"}, tc.args...)
			args = append(args, "--cluster-dir", dir)
			if len(tc.args) == 1 && tc.args[0] == "explode" {
				args = args[:2]
			}
			code, out, errs := runFaultline(t, fl, args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("faultline %s: exit %d, stderr %q; want exit %d and %q\n%s", strings.Join(args, " "), code, errs, tc.code, tc.want, out)
			}
		}
	})

	// down, up again: the same manager URL and node ports.
	mustRun(t, fl, "cluster", "down", "--dir", dir)
	code, _, errs := runFaultline(t, fl, "fault", "list", "--cluster-dir", dir)
	if code != exitNotRun || !strings.Contains(errs, "is down") {
		t.Errorf("fault list on a cluster that is down: exit %d, %s", code, errs)
	}
	mustRun(t, fl, upArgs...)
	again, err := local.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.ManagerURL != st.ManagerURL {
		t.Errorf("manager URL after up, down, up: %s, want %s", again.ManagerURL, st.ManagerURL)
	}
	for i, n := range again.Nodes {
		if n != st.Nodes[i] {
			t.Errorf("node after up, down, up: %+v, want %+v", n, st.Nodes[i])
		}
	}
	mustRun(t, fl, "cluster", "down", "--dir", dir)
}

func statusJSON(t *testing.T, fl, dir string) statusView {
	t.Helper()
	var v statusView
	decode(t, mustRun(t, fl, "cluster", "status", "--dir", dir, "--output", "json"), &v)
	return v
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
}

// TestFaultWithoutCluster: every fault subcommand and cluster env say that
// there is no cluster in the directory.
func TestFaultWithoutCluster(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"fault", "list", "--cluster-dir", dir},
		{"fault", "inject", "--cluster-dir", dir, "node-stop", "--node", "node-1"},
		{"fault", "heal", "--all", "--cluster-dir", dir},
		{"cluster", "env", "--dir", dir},
	} {
		var stdout, stderr bytes.Buffer
		code := realMain(args, &stdout, &stderr)
		if code != exitNotRun || !strings.Contains(stderr.String(), "no cluster in "+dir) {
			t.Errorf("faultline %s: exit %d, stderr %q; want 2 and \"no cluster in %s\"", strings.Join(args, " "), code, stderr.String(), dir)
		}
	}
}

// TestClusterEnvWithoutToken: a cluster without a credential gets the
// manager line only; values that need quoting are quoted.
func TestClusterEnvWithoutToken(t *testing.T) {
	dir := t.TempDir()
	state := `{"driver":"local","dir":"` + dir + `","managerURL":"http://127.0.0.1:9500","updated":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	if err := os.WriteFile(filepath.Join(dir, local.StateFile), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"cluster", "env", "--dir", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got, want := stdout.String(), "export REFENGINE_MANAGER=http://127.0.0.1:9500\n"; got != want {
		t.Errorf("cluster env: %q, want %q", got, want)
	}
	if got := shellWord("a b'c"); got != `'a b'\''c'` {
		t.Errorf("shellWord: %s", got)
	}
}
