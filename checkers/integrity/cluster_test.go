package integrity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/internal/testtool"
	"github.com/faultline/faultline/timeline"
)

// TestOnLocalCluster runs the four checkers against a real local cluster:
// a 2-replica volume written through its frontend passes all of them; a
// stray lvol made on a node behind the manager's back fails no-orphans; a
// block changed in one replica's export, behind the engine's back, fails
// replicas-equal and reads-deterministic at that block.
//
// It builds refengine and starts a manager and two nodes (about half a
// minute here); it is skipped under -short.
func TestOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real local cluster; skipped under -short")
	}
	const (
		volume = "integ"
		size   = 16 << 20
		diffAt = 5<<20 + 12<<10 // the block made to diverge
	)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	rec := timeline.NewRecorder()
	d := startCluster(t, ctx, 2, rec)
	mgr, err := cluster.ManagerClient(d)
	if err != nil {
		t.Fatal(err)
	}

	dev, reps := writtenVolume(t, ctx, mgr, volume, size)
	var nodes []Node
	for _, n := range d.Nodes() {
		nodes = append(nodes, Node{Name: n.Name, Addr: n.RPC})
	}
	cred := d.Credential()
	quiet := Checker{API: mgr, Credential: cred}                          // for Eventually: one recorded verdict, not every attempt
	c := Checker{API: mgr, Recorder: rec, Nodes: nodes, Credential: cred} // the driver's own node list; its nodes protect their replica exports with keys

	// (a) A healthy volume passes; an unreadable node makes no-orphans Unknown.
	want(t, checkers.Record(rec, Eventually(ctx, time.Minute, 500*time.Millisecond, quiet.CheckNoOrphans)), NameNoOrphans, checkers.Pass)
	want(t, c.CheckNoOrphans(ctx), NameNoOrphans, checkers.Pass)
	want(t, c.CheckSpaceBounded(ctx, volume), NameSpaceBounded, checkers.Pass, "volume integ: 2 replica(s) within their bound")
	down := Checker{API: mgr, Credential: cred, Nodes: append(slices.Clone(nodes), Node{Name: "node-9", Addr: "unix:/nonexistent/node-9.sock"})}
	want(t, down.CheckNoOrphans(ctx), NameNoOrphans, checkers.Unknown, "1 node(s) could not be read")

	// (b) Stray lvols on the first replica's lvstore.
	stray := []string{reps[0].Name + "-rebuilding", "junk"}
	rpc, lvs := replicaLvstore(t, ctx, mgr, cred, reps[0])
	for _, name := range stray {
		if err := rpc.Call(ctx, "bdev_lvol_create", map[string]any{"lvol_name": name, "size_in_mib": 4, "thin_provision": true, "lvs_name": lvs}, nil); err != nil {
			t.Fatalf("create stray %s: %v", name, err)
		}
	}
	v := c.CheckNoOrphans(ctx)
	want(t, v, NameNoOrphans, checkers.Fail, "2 orphan lvol(s)", stray[0], stray[1])
	for _, e := range v.Evidence {
		if e.What == "orphan "+stray[0] && !strings.Contains(e.Detail, "rebuilding lvol but "+reps[0].Name+" is not rebuilding") {
			t.Errorf("reason for %s: %s", stray[0], e.Detail)
		}
	}
	for _, name := range stray {
		if err := rpc.Call(ctx, "bdev_lvol_delete", map[string]any{"name": lvs + "/" + name}, nil); err != nil {
			t.Fatalf("delete stray %s: %v", name, err)
		}
	}
	want(t, c.CheckNoOrphans(ctx), NameNoOrphans, checkers.Pass)

	// (c) Replicas equal, then one block changed in one replica only.
	want(t, c.ReplicasEqual(ctx, volume), NameReplicasEqual, checkers.Pass, "2 replicas")
	want(t, c.ReadsDeterministic(ctx, dev, ReadOptions{K: 4}), NameReadsDeterministic, checkers.Pass)
	victim := reps[1]
	if _, err := nbd.Dial(ctx, "tcp", victim.Status.Address, victim.Status.Export); !errors.Is(err, nbd.ErrRefused) {
		t.Fatalf("replica %s opened without its key: %v", victim.Name, err)
	}
	direct, err := nbd.DialWith(ctx, "tcp", victim.Status.Address, victim.Status.Export, nbd.DialOptions{Key: d.Credential().ExportKey(victim.Status.Export)})
	if err != nil {
		t.Fatalf("open replica %s directly: %v", victim.Name, err)
	}
	corrupt(t, direct, diffAt, BlockSize)
	if err := direct.Flush(); err != nil {
		t.Fatal(err)
	}
	direct.Close()
	v = c.ReplicasEqual(ctx, volume)
	want(t, v, NameReplicasEqual, checkers.Fail, victim.Name)
	if got := offsetOf(v, "first difference"); got != diffAt {
		t.Fatalf("replicas-equal: first difference at %d, want %d\n%s", got, diffAt, evidenceText(v))
	}
	// K of 2 × replicas reaches both with round-robin reads; twice that
	// leaves room for a read steered by a flush still in flight on one.
	v = c.ReadsDeterministic(ctx, dev, ReadOptions{K: 8})
	want(t, v, NameReadsDeterministic, checkers.Fail, fmt.Sprintf("first differing 4 KiB block at byte %d", diffAt))

	outcomes := map[string][]string{}
	for _, e := range rec.Events() {
		if e.Kind == timeline.KindChecker {
			outcomes[e.Lane] = append(outcomes[e.Lane], e.Name)
		}
	}
	if got := strings.Join(outcomes["checker/"+NameReplicasEqual], ","); got != "pass,fail" {
		t.Errorf("timeline of %s: %s", NameReplicasEqual, got)
	}
	if got := strings.Join(outcomes["checker/"+NameNoOrphans], ","); got != "pass,pass,fail,pass" {
		t.Errorf("timeline of %s: %s", NameNoOrphans, got)
	}
}

// startCluster starts a local cluster of n nodes, stopped when the test ends.
func startCluster(t *testing.T, ctx context.Context, n int, rec *timeline.Recorder) *local.Driver {
	t.Helper()
	ref := testtool.Refengine(t)
	if _, err := local.Probe(ctx, ref); errors.Is(err, local.ErrNoManager) || errors.Is(err, local.ErrNoNode) {
		t.Skipf("refengine cannot run a cluster yet: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	d, err := local.New(local.Config{Dir: t.TempDir(), Refengine: ref, Nodes: n, DiskSize: 64 << 20,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Timeline: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Down(context.Background()) })
	return d
}

// writtenVolume creates a volume with one replica per node, attaches it,
// fills it with a pattern through its frontend and returns the frontend
// and the replicas, sorted by name, once both are running RW.
func writtenVolume(t *testing.T, ctx context.Context, mgr *client.Client, name string, size int64) (*nbd.Client, []api.Replica) {
	t.Helper()
	waitFor(t, ctx, "2 nodes up", func() (bool, string) {
		ns, err := mgr.ListNodes(ctx)
		up := 0
		for _, n := range ns {
			if n.Status.State == api.NodeUp {
				up++
			}
		}
		return up >= 2, fmt.Sprintf("%d up, err %v", up, err)
	})
	if _, err := mgr.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: size, NumberOfReplicas: 2, Frontend: api.FrontendNBD}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.WaitVolume(ctx, name, func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.AttachVolume(ctx, name, "node-1"); err != nil {
		t.Fatal(err)
	}
	vol, err := mgr.WaitVolume(ctx, name, func(v api.Volume) bool {
		return v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy && v.Status.Endpoint != ""
	})
	if err != nil {
		t.Fatalf("volume %s not attached and healthy: %v (%+v)", name, err, vol.Status)
	}
	u, err := url.Parse(vol.Status.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := nbd.Dial(ctx, "tcp", u.Host, strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		t.Fatalf("connect to %s: %v", vol.Status.Endpoint, err)
	}
	t.Cleanup(func() { dev.Close() })
	data := pattern(int(size), 42)
	for off := int64(0); off < size; off += ChunkSize {
		if _, err := dev.WriteAt(data[off:off+ChunkSize], off); err != nil {
			t.Fatal(err)
		}
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	var reps []api.Replica
	waitFor(t, ctx, "2 replicas running RW", func() (bool, string) {
		var err error
		reps, err = mgr.ListReplicas(ctx, name)
		rw := 0
		for _, r := range reps {
			if notComparable(r) == "" {
				rw++
			}
		}
		return rw == 2 && len(reps) == 2, fmt.Sprintf("%+v, err %v", reps, err)
	})
	slices.SortFunc(reps, func(a, b api.Replica) int { return strings.Compare(a.Name, b.Name) })
	return dev, reps
}

// replicaLvstore connects to the JSON-RPC of the replica's node and returns
// the name of the lvstore the replica lives on.
func replicaLvstore(t *testing.T, ctx context.Context, mgr *client.Client, cred credential.Token, r api.Replica) (*jsonrpc.Client, string) {
	t.Helper()
	nodes, err := NodesFromManager(ctx, mgr)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(nodes, func(n Node) bool { return n.Name == r.Spec.Node })
	if i < 0 {
		t.Fatalf("node %s of replica %s not in %+v", r.Spec.Node, r.Name, nodes)
	}
	rpc, err := dialNode(ctx, nodes[i], cred)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rpc.Close() })
	var stores []Lvstore
	if err := rpc.Call(ctx, "bdev_lvol_get_lvstores", nil, &stores); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		if s.UUID == r.Spec.DiskUUID || r.Spec.DiskUUID == "" {
			return rpc, s.Name
		}
	}
	t.Fatalf("no lvstore %s on %s: %+v", r.Spec.DiskUUID, r.Spec.Node, stores)
	return nil, ""
}

// waitFor polls cond every 200 ms until it holds, failing the test with
// cond's last description when ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last: %s", what, ctx.Err(), state)
		case <-tick.C:
		}
	}
}
