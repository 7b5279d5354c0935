package target

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/internal/gobuild"
	"github.com/faultline/faultline/internal/procs"
	"github.com/faultline/faultline/internal/testtool"
)

// refengineBin is the refengine binary TestMain builds for the tests that
// run real node processes; empty under -short.
var refengineBin string

func TestMain(m *testing.M) {
	os.Exit(testtool.Main(m, gobuild.Refengine, &refengineBin))
}

// node is a `refengine node` process.
type node struct {
	t       *testing.T
	name    string
	dir     string
	sock    string
	args    []string
	p       *procs.Proc
	nbdAddr string
}

var readyRE = regexp.MustCompile(`msg="node ready".*nbd_listen=(\S+)`)

// startNode starts a node with one 128 MiB disk "disk0" in dir.
func startNode(t *testing.T, name, dir string) *node {
	t.Helper()
	if refengineBin == "" {
		t.Skip("integration test: runs real processes (skipped with -short)")
	}
	n := &node{t: t, name: name, dir: dir, sock: filepath.Join(dir, "rpc.sock")}
	n.args = []string{"node", "--name", name, "--data-dir", dir, "--rpc-socket", n.sock,
		"--nbd-listen", "127.0.0.1:0", "--disk", "disk0=disk0.img:128M"}
	n.start()
	t.Cleanup(func() { n.kill() })
	return n
}

// start starts the node, or restarts it with the same flags.
func (n *node) start() {
	n.t.Helper()
	var p *procs.Proc
	var err error
	if n.p == nil {
		p, err = procs.Start(exec.Command(refengineBin, n.args...), readyRE)
	} else {
		p, err = n.p.Restart()
	}
	if err != nil {
		n.t.Fatal(err)
	}
	n.p = p
	if n.nbdAddr, err = p.Ready(30 * time.Second); err != nil {
		n.t.Fatalf("node %s %v:\n%s", n.name, err, n.logs())
	}
}

func (n *node) logs() string {
	if n.p == nil {
		return ""
	}
	return n.p.Log()
}

// kill sends SIGKILL and waits for the process to go.
func (n *node) kill() {
	if n.p != nil {
		n.p.Kill()
	}
}

func (n *node) client(ctx context.Context) *jsonrpc.Client {
	n.t.Helper()
	c, err := jsonrpc.Dial(ctx, "unix", n.sock)
	if err != nil {
		n.t.Fatalf("dial %s: %v\n%s", n.name, err, n.logs())
	}
	n.t.Cleanup(func() { c.Close() })
	return c
}

func call(t *testing.T, c *jsonrpc.Client, method string, params, result any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Call(ctx, method, params, result); err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
}

// TestNodeSurvivesSIGKILL builds lvols and snapshots on a node, kills it
// with SIGKILL, restarts it and finds them again with their data.
func TestNodeSurvivesSIGKILL(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, "n1", t.TempDir())
	c := n.client(ctx)
	var lvs, vol, snap string
	call(t, c, "bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, &lvs)
	call(t, c, "bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "vol", "size_in_mib": 16, "thin_provision": true}, &vol)
	call(t, c, "nbd_export_start", map[string]any{"bdev_name": "lvs0/vol", "export_name": "vol"}, nil)

	before := pattern(21, 2<<20)
	after := pattern(42, 1<<20)
	writeExport(t, n.nbdAddr, "vol", 0, before)
	call(t, c, "bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/vol", "snapshot_name": "snap1"}, &snap)
	writeExport(t, n.nbdAddr, "vol", 4<<20, after) // into the new head
	call(t, c, "bdev_lvol_set_xattr", map[string]any{"name": "lvs0/vol", "xattr_name": "revision", "xattr_value": "2"}, nil)

	n.kill()
	n.start()
	c = n.client(ctx)
	var bdevs []bdevInfo
	call(t, c, "bdev_get_bdevs", map[string]any{"name": "lvs0/vol"}, &bdevs)
	if len(bdevs) != 1 || bdevs[0].Name != vol || bdevs[0].DriverSpecific.Lvol.BaseSnapshot != "snap1" {
		t.Fatalf("vol after restart = %+v, want uuid %s with parent snap1", bdevs, vol)
	}
	call(t, c, "bdev_get_bdevs", map[string]any{"name": snap}, &bdevs)
	if !bdevs[0].DriverSpecific.Lvol.Snapshot {
		t.Errorf("snapshot after restart = %+v", bdevs[0])
	}
	var rev string
	call(t, c, "bdev_lvol_get_xattr", map[string]any{"name": "lvs0/vol", "xattr_name": "revision"}, &rev)
	if rev != "2" {
		t.Errorf("xattr after restart = %q, want 2", rev)
	}
	call(t, c, "nbd_export_start", map[string]any{"bdev_name": "lvs0/vol", "export_name": "vol"}, nil)
	if got := readExport(t, n.nbdAddr, "vol", 0, len(before)); !bytes.Equal(got, before) {
		t.Error("data written before the snapshot lost after SIGKILL")
	}
	if got := readExport(t, n.nbdAddr, "vol", 4<<20, len(after)); !bytes.Equal(got, after) {
		t.Error("data written after the snapshot lost after SIGKILL")
	}
}

// TestNodeCleanShutdown: SIGTERM exits 0 and removes the socket and its
// lock; a second node on the same socket is refused while the first runs.
func TestNodeCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, "n1", dir)
	other := exec.Command(refengineBin, "node", "--name", "n2", "--data-dir", t.TempDir(), "--rpc-socket", n.sock, "--nbd-listen", "127.0.0.1:0")
	out, err := other.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Errorf("second node on the same socket: err %v, output %s", err, out)
	}
	n.p.Cmd().Process.Signal(syscall.SIGTERM)
	select {
	case <-n.p.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("node did not stop on SIGTERM")
	}
	if code := n.p.Cmd().ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, n.logs())
	}
	for _, p := range []string{n.sock, n.sock + ".lock"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after shutdown", p)
		}
	}
}

func TestNodeBadFlags(t *testing.T) {
	if refengineBin == "" {
		t.Skip("needs the refengine binary (skipped with -short)")
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "not defined"},
		{"missing name", []string{"--data-dir", "d", "--rpc-socket", "s", "--nbd-listen", "127.0.0.1:1"}, "--name is required"},
		{"bad disk", []string{"--name", "n", "--data-dir", "d", "--rpc-socket", "s", "--nbd-listen", "127.0.0.1:1", "--disk", "nopath"}, "NAME=PATH"},
		{"bad size", []string{"--name", "n", "--data-dir", "d", "--rpc-socket", "s", "--nbd-listen", "127.0.0.1:1", "--disk", "d=x:12Q"}, "size"},
		{"bad address", []string{"--name", "n", "--data-dir", "d", "--rpc-socket", "s", "--nbd-listen", "localhost"}, "listen address"},
		{"extra args", []string{"--name", "n", "--data-dir", "d", "--rpc-socket", "s", "--nbd-listen", "127.0.0.1:1", "extra"}, "unexpected arguments"},
		{"TCP JSON-RPC without a credential", []string{"--name", "n", "--data-dir", "d", "--rpc-socket", "s", "--nbd-listen", "127.0.0.1:1", "--rpc-listen", "127.0.0.1:2"}, "--rpc-listen 127.0.0.1:2 needs --cluster-token-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(refengineBin, append([]string{"node"}, tt.args...)...)
			cmd.Env = append(os.Environ(), "REFENGINE_CLUSTER_TOKEN_FILE=")
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %v, output %q; want exit 2 mentioning %q", err, out, tt.want)
			}
		})
	}
}

func dialExport(t *testing.T, addr, export string) *nbd.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nbd.Dial(ctx, "tcp", addr, export)
	if err != nil {
		t.Fatalf("nbd dial %s/%s: %v", addr, export, err)
	}
	return c
}

func writeExport(t *testing.T, addr, export string, off int64, data []byte) {
	t.Helper()
	c := dialExport(t, addr, export)
	defer c.Close()
	if _, err := c.WriteAt(data, off); err != nil {
		t.Fatalf("nbd write: %v", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("nbd flush: %v", err)
	}
}

func readExport(t *testing.T, addr, export string, off int64, n int) []byte {
	t.Helper()
	c := dialExport(t, addr, export)
	defer c.Close()
	buf := make([]byte, n)
	if _, err := c.ReadAt(buf, off); err != nil {
		t.Fatalf("nbd read: %v", err)
	}
	return buf
}

// TestNodeRPCPyFraming drives a real node with the rpc.py stand-in
// (engine/jsonrpc/testdata/rpcpy_client.py: indent 2, no newline, params
// omitted when empty).
func TestNodeRPCPyFraming(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: install the Debian package python3")
	}
	n := startNode(t, "n1", t.TempDir())
	calls := `[{"method":"bdev_lvol_create_lvstore","params":{"bdev_name":"disk0","lvs_name":"lvs0","cluster_sz":1048576}},
		{"method":"bdev_lvol_create","params":{"lvol_name":"vol","size_in_mib":16,"thin_provision":true,"lvs_name":"lvs0"}},
		{"method":"bdev_get_bdevs","params":{"name":"lvs0/vol"}},
		{"method":"bdev_lvol_create","params":{"lvol_name":"vol","size_in_mib":16,"lvs_name":"lvs0"}},
		{"method":"spdk_get_version"}]`
	out, err := exec.Command(python, "../jsonrpc/testdata/rpcpy_client.py", n.sock, calls).CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d replies:\n%s", len(lines), out)
	}
	var replies []struct {
		Result json.RawMessage
		Error  *jsonrpc.Error
	}
	for _, l := range lines {
		var r struct {
			Result json.RawMessage
			Error  *jsonrpc.Error
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, r)
	}
	for _, i := range []int{0, 1, 2, 4} {
		if replies[i].Error != nil {
			t.Errorf("reply %d: %v", i, replies[i].Error)
		}
	}
	if !strings.Contains(string(replies[2].Result), `"lvs0/vol"`) {
		t.Errorf("bdev_get_bdevs result %s lacks the alias", replies[2].Result)
	}
	if e := replies[3].Error; e == nil || e.Code != -17 || e.Message != "File exists" {
		t.Errorf("duplicate lvol over rpc.py framing: %+v, want -17 File exists", e)
	}
}
