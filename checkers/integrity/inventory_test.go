package integrity

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/target"
)

// rpcNode is refengine's real JSON-RPC target in this process, served on a
// Unix socket and on loopback TCP, as a node serves it.
type rpcNode struct {
	tgt        *target.Target
	unix, tcp  string
	cred       credential.Token // its TCP door requires it
	lvs        string           // uuid of its lvstore "lvs0"
	clusterMiB int
}

func newRPCNode(t *testing.T) *rpcNode {
	t.Helper()
	n := serveTarget(t)
	n.call(t, "bdev_malloc_create", map[string]any{"name": "disk0", "num_blocks": 64 << 20 / 4096, "block_size": 4096}, nil)
	n.call(t, "bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, &n.lvs)
	return n
}

// newRPCNodeOn serves a target whose disk0 is the aio file img, with the
// lvstore on it found again (examined).
func newRPCNodeOn(t *testing.T, img string) *rpcNode {
	t.Helper()
	n := serveTarget(t)
	n.call(t, "bdev_aio_create", map[string]any{"name": "disk0", "filename": img, "block_size": 4096}, nil)
	return n
}

// serveTarget serves a fresh target on a Unix socket and loopback TCP.
func serveTarget(t *testing.T) *rpcNode {
	t.Helper()
	cred, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	n := &rpcNode{tgt: target.New(target.Options{}), clusterMiB: 1, cred: cred}
	t.Cleanup(func() { n.tgt.Close() })
	srv := jsonrpc.NewServer(nil)
	n.tgt.Register(srv)
	sock := filepath.Join(t.TempDir(), "rpc.sock")
	ul, err := jsonrpc.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { srv.Serve(ctx, ul); done <- struct{}{} }()
	go func() { srv.ServeAuthenticated(ctx, tl, cred); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	n.unix, n.tcp = "unix:"+sock, tl.Addr().String()
	return n
}

func (n *rpcNode) call(t *testing.T, method string, params, result any) {
	t.Helper()
	if err := n.tgt.Call(t.Context(), method, params, result); err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
}

// lvol creates an lvol of sizeMiB in lvs0, thick (every cluster allocated)
// or thin.
func (n *rpcNode) lvol(t *testing.T, name string, sizeMiB int, thick bool) {
	t.Helper()
	n.call(t, "bdev_lvol_create", map[string]any{"lvol_name": name, "size_in_mib": sizeMiB, "thin_provision": !thick, "lvs_name": "lvs0"}, nil)
}

// TestReadNode reads a real target over both of its doors and checks what
// the inventory makes of lvols, snapshots and the allocator.
func TestReadNode(t *testing.T) {
	n := newRPCNode(t)
	n.lvol(t, rA, 8, true)
	n.lvol(t, rA+"-bitmap", 1, true)
	n.call(t, "bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/" + rA, "snapshot_name": rA + "-snap-s1"}, nil)
	n.lvol(t, "junk", 4, false)
	for _, addr := range []string{n.unix, n.tcp, "tcp:" + n.tcp} {
		t.Run(addr, func(t *testing.T) {
			ni := readNode(testCtx(t), Node{Name: "n1", Addr: addr}, n.cred)
			if ni.Err != "" {
				t.Fatal(ni.Err)
			}
			if len(ni.Lvstores) != 1 || ni.Lvstores[0].UUID != n.lvs || ni.Lvstores[0].Name != "lvs0" ||
				ni.Lvstores[0].ClusterSize != 1<<20 || ni.Lvstores[0].Changed || ni.Lvstores[0].Used() != 9 {
				t.Fatalf("lvstores %+v", ni.Lvstores)
			}
			got := map[string]Lvol{}
			for _, lv := range ni.Lvols {
				got[lv.Name] = lv
			}
			head, s1, bitmap := got[rA], got[rA+"-snap-s1"], got[rA+"-bitmap"]
			if len(got) != 4 || head.Parent != rA+"-snap-s1" || head.Snapshot || !s1.Snapshot || s1.AllocatedClusters != 8 ||
				bitmap.AllocatedClusters != 1 || head.SizeBytes != 8<<20 || head.LvstoreUUID != n.lvs || head.LvstoreName != "lvs0" {
				t.Fatalf("lvols %+v", ni.Lvols)
			}

			in := Inventory{Nodes: []NodeInventory{ni}, Volumes: []api.Volume{{Name: "v", Spec: api.VolumeSpec{Size: 8 << 20}}},
				Replicas:  []api.Replica{{Name: rA, Spec: api.ReplicaSpec{Volume: "v", Node: "n1", DiskUUID: n.lvs, Size: 8 << 20}}},
				Snapshots: []api.Snapshot{{Spec: api.SnapshotSpec{Volume: "v", SnapshotName: "s1"}, Status: api.SnapshotStatus{State: api.SnapshotReady}}}}
			want(t, NoOrphans(in), NameNoOrphans, checkers.Fail, "1 orphan lvol(s) holding 0 MiB: junk")
			want(t, SpaceBounded(in, ""), NameSpaceBounded, checkers.Pass, "1 lvstore(s) account for every cluster")
		})
	}
}

// TestReadNodeUnreachable: a node that does not answer is kept with its
// error, and the verdicts say Unknown rather than pass.
func TestReadNodeUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, addr := range []string{"unix:" + filepath.Join(t.TempDir(), "none.sock"), closed, ""} {
		ni := readNode(testCtx(t), Node{Name: "n1", Addr: addr}, credential.Token{})
		if ni.Err == "" || !strings.HasPrefix(ni.Err, "node n1: ") {
			t.Fatalf("readNode(%q) = %+v, want an error", addr, ni)
		}
		in := Inventory{Nodes: []NodeInventory{ni, {Node: "n2"}},
			Replicas: []api.Replica{{Name: rA, Spec: api.ReplicaSpec{Volume: "v", Node: "n1"}}}}
		want(t, NoOrphans(in), NameNoOrphans, checkers.Unknown, "1 node(s) could not be read")
		want(t, SpaceBounded(in, "v"), NameSpaceBounded, checkers.Unknown, "replica "+rA+" not measured")
	}
}

func TestSplitAddr(t *testing.T) {
	tests := []struct{ in, network, addr string }{
		{"unix:/run/node.sock", "unix", "/run/node.sock"},
		{"tcp:127.0.0.2:9601", "tcp", "127.0.0.2:9601"},
		{"127.0.0.2:9601", "tcp", "127.0.0.2:9601"},
	}
	for _, tt := range tests {
		if network, addr, err := splitAddr(tt.in); err != nil || network != tt.network || addr != tt.addr {
			t.Errorf("splitAddr(%q) = %q %q %v", tt.in, network, addr, err)
		}
	}
	if _, _, err := splitAddr(""); err == nil {
		t.Error("splitAddr(\"\") accepted an empty address")
	}
}

// TestReadNodeSeesDegradedLvols: an esnap clone whose external snapshot is
// gone has no bdev, so only bdev_lvol_get_lvols shows it; the inventory
// must list it (its clusters are allocated all the same) and no-orphans
// must name it.
func TestReadNodeSeesDegradedLvols(t *testing.T) {
	// A disk holding an esnap clone of a bdev that is not there when the
	// target starts again: the clone loads degraded, as a rebuild
	// destination does after its node restarted.
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	first := target.New(target.Options{})
	call := func(tgt *target.Target, method string, params any) {
		t.Helper()
		if err := tgt.Call(t.Context(), method, params, nil); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	call(first, "bdev_aio_create", map[string]any{"name": "disk0", "filename": img, "block_size": 4096})
	call(first, "bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20})
	call(first, "bdev_malloc_create", map[string]any{"name": "ext", "num_blocks": 4 << 20 / 4096, "block_size": 4096})
	call(first, "bdev_lvol_clone_bdev", map[string]any{"bdev": "ext", "lvs_name": "lvs0", "clone_name": "vol7-r-qqqqqqqq"})
	// One written cluster: the clone owns it, degraded or not.
	dev, ok := first.Bdev("lvs0/vol7-r-qqqqqqqq")
	if !ok {
		t.Fatal("clone bdev missing")
	}
	if _, err := dev.WriteAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	first.Close()

	n := newRPCNodeOn(t, img)
	got := readNode(t.Context(), Node{Name: "n1", Addr: n.unix}, credential.Token{})
	if got.Err != "" {
		t.Fatal(got.Err)
	}
	found := false
	for _, lv := range got.Lvols {
		found = found || (lv.Name == "vol7-r-qqqqqqqq" && lv.Degraded && lv.AllocatedClusters == 1)
	}
	if !found {
		t.Fatalf("degraded clone missing from the inventory: %+v", got.Lvols)
	}
	v := NoOrphans(Inventory{Nodes: []NodeInventory{got}})
	if v.Outcome != checkers.Fail || !strings.Contains(orphanNames(v.Evidence), "vol7-r-qqqqqqqq") {
		t.Fatalf("no-orphans on an unknown degraded head: %s %s %+v", v.Outcome, v.Summary, v.Evidence)
	}
	degraded := false
	for _, e := range v.Evidence {
		degraded = degraded || strings.Contains(e.Detail, "degraded")
	}
	if !degraded {
		t.Errorf("the evidence does not say the lvol is degraded: %+v", v.Evidence)
	}
}
