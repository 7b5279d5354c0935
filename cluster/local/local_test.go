package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/internal/gobuild"
	"github.com/faultline/faultline/timeline"
)

// refengine is the binary under test: $FAULTLINE_REFENGINE, or one built
// from ./cmd/refengine in TestMain.
var refengine string

func TestMain(m *testing.M) {
	if os.Getenv("FAULTLINE_LOCAL_TEST_SLEEPER") == "1" {
		// A stand-in process for TestFindEngine: it only has to exist
		// with the right command line until it is killed.
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if p := os.Getenv("FAULTLINE_REFENGINE"); p != "" {
		refengine = p
		return m.Run()
	}
	bin, remove, err := gobuild.Temp(context.Background(), gobuild.Refengine)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	refengine = bin
	return m.Run()
}

// requireCluster skips while the binary lacks the manager or node daemons
// (they are built in parallel with this package).
func requireCluster(t *testing.T) {
	t.Helper()
	if _, err := Probe(t.Context(), refengine); err != nil {
		if errors.Is(err, ErrNoManager) || errors.Is(err, ErrNoNode) {
			t.Skipf("refengine cannot run a cluster yet: %v", err)
		}
		t.Fatal(err)
	}
}

func newCluster(t *testing.T, nodes int) *Driver {
	t.Helper()
	requireCluster(t)
	d, err := New(Config{
		Dir:        t.TempDir(),
		Refengine:  refengine,
		Nodes:      nodes,
		DiskSize:   64 << 20,
		MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 400 * time.Millisecond,
		Timeline:   timeline.NewRecorder(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := d.Up(ctx); err != nil {
		t.Fatalf("up: %v\n%s", err, allTails(d))
	}
	t.Cleanup(func() { d.Down(context.Background()) })
	return d
}

func allTails(d *Driver) string {
	logs, _ := d.Logs(context.Background())
	var b strings.Builder
	for name := range logs {
		tail, _ := d.LogTail(name, 20)
		fmt.Fprintf(&b, "--- %s\n%s\n", name, tail)
	}
	return b.String()
}

func nodeStatus(t *testing.T, d *Driver, name string) cluster.ProcessStatus {
	t.Helper()
	st, err := d.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n, ok := st.Node(name)
	if !ok {
		t.Fatalf("status has no node %s: %+v", name, st)
	}
	return n
}

// eventually polls cond every 50ms until it holds or the deadline passes.
func eventually(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	end := time.After(deadline)
	for !cond() {
		select {
		case <-end:
			t.Fatalf("timed out after %v waiting for %s", deadline, what)
		case <-tick.C:
		}
	}
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid)
}

// zombie reports whether pid has exited but is not yet reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestLocalClusterLifecycle(t *testing.T) {
	d := newCluster(t, 3)
	ctx := t.Context()

	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Manager.Running || !st.Manager.Ready {
		t.Fatalf("manager not running and ready: %+v", st.Manager)
	}
	if len(st.Nodes) != 3 {
		t.Fatalf("want 3 nodes, got %d", len(st.Nodes))
	}
	pids := map[string]int{"manager": st.Manager.PID}
	for i, n := range st.Nodes {
		if !n.Running || !n.Ready {
			t.Fatalf("node %s not running and ready: %+v", n.Name, n)
		}
		pids[n.Name] = n.PID
		if want := fmt.Sprintf("127.0.0.%d", i+2); d.Nodes()[i].Address != want {
			t.Errorf("node %s address %s, want %s", n.Name, d.Nodes()[i].Address, want)
		}
	}
	state, err := ReadState(d.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !state.Up || state.PIDs["node-2"] != pids["node-2"] || state.ManagerURL != d.ManagerURL() {
		t.Fatalf("cluster.json does not match status: %+v", state)
	}

	// Instance-manager deletion: the supervisor brings a new process.
	old := pids["node-1"]
	if err := d.DeleteInstanceManager(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	if alive(old) {
		t.Fatalf("old node-1 process %d still alive after DeleteInstanceManager", old)
	}
	eventually(t, "node-1 restarted and ready", 30*time.Second, func() bool {
		n := nodeStatus(t, d, "node-1")
		return n.Running && n.Ready && n.PID != old
	})
	if n := nodeStatus(t, d, "node-1"); n.Restarts != 1 {
		t.Errorf("node-1 restarts = %d, want 1", n.Restarts)
	}
	if !hasEvent(d.Timeline(), "node-1", "restarted") {
		t.Errorf("no restart of node-1 on the timeline: %+v", d.Timeline().Events())
	}

	// Node stop: the process is gone and stays gone across several
	// supervisor backoff periods.
	stoppedPID := nodeStatus(t, d, "node-2").PID
	if err := d.StopNode(ctx, "node-2"); err != nil {
		t.Fatal(err)
	}
	if alive(stoppedPID) {
		t.Fatalf("node-2 process %d alive after StopNode", stoppedPID)
	}
	window := time.After(5 * d.cfg.MaxBackoff)
	tick := time.NewTicker(50 * time.Millisecond)
	for watching := true; watching; {
		select {
		case <-window:
			watching = false
		case <-tick.C:
			if n := nodeStatus(t, d, "node-2"); n.Running || !n.Stopped {
				t.Fatalf("stopped node-2 came back: %+v", n)
			}
		}
	}
	tick.Stop()
	if err := d.DeleteInstanceManager(ctx, "node-2"); err == nil {
		t.Error("DeleteInstanceManager on a stopped node succeeded")
	}

	if err := d.StartNode(ctx, "node-2"); err != nil {
		t.Fatal(err)
	}
	n2 := nodeStatus(t, d, "node-2")
	if !n2.Running || !n2.Ready || n2.Stopped || n2.PID == stoppedPID {
		t.Fatalf("node-2 after StartNode: %+v", n2)
	}

	if _, err := d.LogTail("node-1", 5); err != nil {
		t.Errorf("log tail: %v", err)
	}
	if err := d.StopNode(ctx, "node-9"); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("StopNode(node-9) = %v, want ErrUnknownNode", err)
	}

	if err := d.RemoveDisks(); err == nil {
		t.Error("RemoveDisks on a running cluster succeeded")
	}

	// Down: no process of the cluster is left.
	st, _ = d.Status(ctx)
	all := []int{st.Manager.PID, old, stoppedPID}
	for _, n := range st.Nodes {
		all = append(all, n.PID)
	}
	if err := d.Down(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range all {
		if alive(pid) {
			t.Errorf("process %d alive after Down", pid)
		}
	}
	if state, err := ReadState(d.Dir()); err != nil || state.Up || len(state.PIDs) != 0 {
		t.Errorf("cluster.json after Down: %+v, %v", state, err)
	}
	if disks, _ := filepath.Glob(filepath.Join(d.Dir(), "nodes", "*", "disk0.img")); len(disks) != 3 {
		t.Fatalf("want 3 disk files before RemoveDisks, got %v", disks)
	}
	if err := d.RemoveDisks(); err != nil {
		t.Fatal(err)
	}
	if disks, _ := filepath.Glob(filepath.Join(d.Dir(), "nodes", "*", "disk0.img")); len(disks) != 0 {
		t.Errorf("disk files left after RemoveDisks: %v", disks)
	}
}

func hasEvent(r *timeline.Recorder, lane, name string) bool {
	for _, e := range r.Events() {
		if e.Lane == lane && e.Name == name {
			return true
		}
	}
	return false
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dir", Config{Refengine: "/bin/true"}, "run directory"},
		{"too many nodes", Config{Dir: t.TempDir(), Refengine: "/bin/true", Nodes: 500}, "out of range"},
		{"negative nodes", Config{Dir: t.TempDir(), Refengine: "/bin/true", Nodes: -1}, "out of range"},
		{"odd disk", Config{Dir: t.TempDir(), Refengine: "/bin/true", DiskSize: 1000}, "1 MiB"},
		{"negative disks", Config{Dir: t.TempDir(), Refengine: "/bin/true", DisksPerNode: -1}, "disks per node"},
		{"too many disks", Config{Dir: t.TempDir(), Refengine: "/bin/true", DisksPerNode: 9}, "disks per node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestUpFailsClearlyWithoutDaemons(t *testing.T) {
	d, err := New(Config{Dir: t.TempDir(), Refengine: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Up(t.Context())
	if !errors.Is(err, ErrNoManager) {
		t.Fatalf("Up with /bin/true = %v, want ErrNoManager", err)
	}
}

func TestTailFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(p, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		want string
	}{{2, "c\nd"}, {10, "a\nb\nc\nd"}, {0, "a\nb\nc\nd"}} {
		got, err := tailFile(p, tc.n)
		if err != nil || got != tc.want {
			t.Errorf("tailFile(%d) = %q, %v; want %q", tc.n, got, err, tc.want)
		}
	}
}

// sleeper starts this test binary as an idle process with args, in process
// group pgid (0: a new group of its own).
func sleeper(t *testing.T, pgid int, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FAULTLINE_LOCAL_TEST_SLEEPER=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func TestFindEngine(t *testing.T) {
	node := sleeper(t, 0, "node")
	pgid := node.Process.Pid
	eng := sleeper(t, pgid, "engine", "--name", "vol-e-0")
	sleeper(t, pgid, "engine", "--name=vol2-e-0")
	foreign := sleeper(t, 0, "engine", "--name", "other-e-0") // not in a node's group

	groups := map[int]string{pgid: "node-1"}
	pid, n, err := findEngine("vol-e-0", groups)
	if err != nil || pid != eng.Process.Pid || n != "node-1" {
		t.Fatalf("findEngine(vol-e-0) = %d, %q, %v; want %d on node-1", pid, n, err, eng.Process.Pid)
	}
	if _, _, err := findEngine("vol2-e-0", groups); err != nil {
		t.Errorf("--name= form: %v", err)
	}
	if pid, _, err := findEngine("other-e-0", groups); err == nil {
		t.Errorf("found engine %d outside the cluster's process groups", pid)
	}
	if _, _, err := findEngine("missing-e-0", groups); err == nil {
		t.Error("found an engine that does not exist")
	}
	_ = foreign
}
