package instance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/nbd"
)

// engineCmdlines returns the command lines of the engine processes the
// cluster's nodes started (their children running `refengine engine`).
func (cl *cluster) engineCmdlines() map[int]string {
	cl.t.Helper()
	nodes := map[int]bool{}
	for _, p := range cl.nodes {
		nodes[p.p.Cmd().Process.Pid] = true
	}
	out := map[int]string{}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		cl.t.Fatal(err)
	}
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !nodes[ppid] {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 1 && args[1] == "engine" {
			pid, _ := strconv.Atoi(filepath.Base(d))
			out[pid] = strings.Join(args, " ")
		}
	}
	return out
}

// TestReplicaExportsNeedTheirKey: with a cluster credential, the nodes'
// replica and bitmap exports open only with their keys, which the engine
// and rebuild peers have and no one else; the frontend stays open; no key
// shows on an engine's command line or in a log.
func TestReplicaExportsNeedTheirKey(t *testing.T) {
	cl := newCluster(t, 3)
	cl.createVolume("vol1", 2)
	v := cl.attach("vol1", "n1")
	dev := dialEndpoint(t, v.Status.Endpoint) // the frontend needs no key
	data := writePattern(t, dev, 21, 2<<20)
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reps, err := cl.c.ListReplicas(ctx, "vol1")
	if err != nil || len(reps) != 2 {
		t.Fatalf("replicas %+v, %v", reps, err)
	}
	r := reps[0]
	head, bitmap := r.Status.Export, r.Status.Export+"-bitmap"
	stranger, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, export, key string
	}{
		{"head without a key", head, ""},
		{"bitmap without a key", bitmap, ""},
		{"head with a wrong key", head, strings.Repeat("0", 32)},
		{"head with its bitmap's key", head, cl.cred.ExportKey(bitmap)},
		{"head with another replica's key", head, cl.cred.ExportKey(reps[1].Status.Export)},
		{"head with another cluster's key", head, stranger.ExportKey(head)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := nbd.DialWith(ctx, "tcp", r.Status.Address, tt.export, nbd.DialOptions{Key: tt.key})
			if err == nil {
				c.Close()
				t.Fatalf("opened replica export %s", tt.export)
			}
			if !errors.Is(err, nbd.ErrRefused) || !strings.Contains(err.Error(), "only its engine and rebuild peers may open it") {
				t.Fatalf("dial: %v, want the refusal", err)
			}
		})
	}
	if nbdinfo, err := exec.LookPath("nbdinfo"); err == nil {
		for _, tt := range []struct {
			export string
			ok     bool
		}{{head, false}, {bitmap, false}, {url.PathEscape(head + "?key=" + cl.cred.ExportKey(head)), true}} {
			cmd := exec.CommandContext(ctx, nbdinfo, "nbd://"+r.Status.Address+"/"+tt.export)
			cmd.Env = append(cmd.Environ(), "LIBNBD_DEBUG=1") // libnbd shows the server's message only then
			out, err := cmd.CombinedOutput()
			if tt.ok != (err == nil) || !tt.ok && !strings.Contains(string(out), "only its engine and rebuild peers may open it") {
				t.Errorf("nbdinfo %s: %v\n%s", tt.export, err, out)
			}
		}
		if out, err := exec.CommandContext(ctx, nbdinfo, v.Status.Endpoint).CombinedOutput(); err != nil {
			t.Errorf("nbdinfo on the frontend: %v\n%s", err, out)
		}
	} else {
		t.Log("nbdinfo not installed (libnbd-bin): skipping the stock client")
	}
	// Every export the nodes made for engines and peers is protected, a
	// rebuild source too; the frontend is not.
	node := cl.nodeIndex(r.Spec.Node)
	if err := cl.rpc(node, "bdev_lvol_create", map[string]any{"lvol_name": "keytest", "size_in_mib": 4, "thin_provision": true, "lvs_name": "disk0"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.rpc(node, "im_rebuild_src_export", map[string]any{"replica": r.Name, "lvol": "keytest"}, nil); err != nil {
		t.Fatalf("export a rebuild source: %v", err)
	}
	if c, err := nbd.Dial(ctx, "tcp", r.Status.Address, "keytest"); !errors.Is(err, nbd.ErrRefused) {
		if err == nil {
			c.Close()
		}
		t.Errorf("rebuild source opened without its key: %v", err)
	}
	u, err := url.Parse(v.Status.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	frontend := strings.TrimPrefix(u.Path, "/")
	seen := 0
	for i := range cl.nodes {
		var exports []struct {
			Name      string `json:"export_name"`
			AccessKey bool   `json:"access_key"`
		}
		if err := cl.rpc(i, "nbd_get_exports", nil, &exports); err != nil {
			t.Fatal(err)
		}
		for _, e := range exports {
			seen++
			if want := e.Name != frontend; e.AccessKey != want {
				t.Errorf("%s export %s: access_key %v, want %v", cl.nodes[i].name, e.Name, e.AccessKey, want)
			}
		}
	}
	if seen < 6 { // 2 heads, 2 bitmaps, the rebuild source, the frontend
		t.Errorf("saw %d exports, want at least 6", seen)
	}
	if err := cl.rpc(node, "im_rebuild_src_unexport", map[string]any{"replica": r.Name, "lvol": "keytest"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.rpc(node, "bdev_lvol_delete", map[string]any{"name": "disk0/keytest"}, nil); err != nil {
		t.Fatal(err)
	}
	// The right key opens the replica: it holds what the engine wrote.
	c, err := nbd.DialWith(ctx, "tcp", r.Status.Address, head, nbd.DialOptions{Key: cl.cred.ExportKey(head)})
	if err != nil {
		t.Fatalf("open the head with its key: %v", err)
	}
	got := make([]byte, len(data))
	if _, err := c.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("replica read with the key: %v, equal %v", err, bytes.Equal(got, data))
	}
	c.Close()
	// The refused clients disturbed nothing: the engine keeps both
	// replicas and serves.
	writePattern(t, dev, 22, 1<<20)
	engines, err := cl.c.ListEngines(ctx, "vol1")
	if err != nil || len(engines) != 1 {
		t.Fatalf("engines %+v, %v", engines, err)
	}
	for name, mode := range engines[0].Status.ReplicaModes {
		if mode != api.ModeRW {
			t.Errorf("replica %s is %s after refused clients", name, mode)
		}
	}
	// A rebuild opens a source snapshot on another node and the
	// replacement joins the engine: both with keys.
	cl.replaceReplica("vol1", "n1")
	want := sha256.Sum256(readAll(t, dev, len(data)))
	before := reps
	reps, err = cl.c.ListReplicas(ctx, "vol1")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if got := sha256.Sum256(cl.replicaBytes(r, len(data))); got != want {
			t.Errorf("replica %s after the rebuild differs from the volume", r.Name)
		}
	}
	// No key on an engine's command line or in a log.
	var keys []string
	for _, r := range append(before, reps...) {
		keys = append(keys, cl.cred.ExportKey(r.Status.Export), cl.cred.ExportKey(r.Status.Export+"-bitmap"))
	}
	for _, n := range cl.lvolsWhere(func(string) bool { return true }) {
		_, lvol, _ := strings.Cut(n, ":")
		keys = append(keys, cl.cred.ExportKey(lvol))
	}
	cmdlines := cl.engineCmdlines()
	if len(cmdlines) == 0 {
		t.Fatal("found no engine process")
	}
	texts := map[string]string{"manager log": cl.mgr.logs()}
	for pid, cmdline := range cmdlines {
		texts["/proc/"+strconv.Itoa(pid)+"/cmdline"] = cmdline
	}
	for _, p := range cl.nodes {
		texts[p.name+" log (with its engines')"] = p.logs()
	}
	for what, text := range texts {
		for _, k := range keys {
			if strings.Contains(text, k) {
				t.Errorf("%s holds an export key", what)
				break
			}
		}
	}
}

// readAll reads the first n bytes of a device.
func readAll(t *testing.T, dev *nbd.Client, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := dev.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// replicaBytes reads the first n bytes of a replica's head with its key.
func (cl *cluster) replicaBytes(r api.Replica, n int) []byte {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nbd.DialWith(ctx, "tcp", r.Status.Address, r.Status.Export, nbd.DialOptions{Key: cl.cred.ExportKey(r.Status.Export)})
	if err != nil {
		cl.t.Fatalf("replica %s: %v", r.Name, err)
	}
	defer c.Close()
	return readAll(cl.t, c, n)
}
