package instance_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// lvolEntry is the part of bdev_get_bdevs these tests read.
type lvolEntry struct {
	Aliases []string `json:"aliases"`
	Driver  struct {
		Lvol *struct {
			Snapshot     bool   `json:"snapshot"`
			BaseSnapshot string `json:"base_snapshot"`
			Allocated    uint64 `json:"num_allocated_clusters"`
		} `json:"lvol"`
	} `json:"driver_specific"`
}

func (l lvolEntry) name() string {
	for _, a := range l.Aliases {
		if _, n, ok := strings.Cut(a, "/"); ok {
			return n
		}
	}
	return ""
}

// rpc calls a node's JSON-RPC over its Unix socket.
func (cl *cluster) rpc(node int, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := jsonrpc.Dial(ctx, "unix", filepath.Join(cl.dir, cl.nodes[node].name, "rpc.sock"))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(ctx, method, params, result)
}

// lvols lists the lvols on a node by name.
func (cl *cluster) lvols(node int) map[string]lvolEntry {
	cl.t.Helper()
	var all []lvolEntry
	if err := cl.rpc(node, "bdev_get_bdevs", nil, &all); err != nil {
		cl.t.Fatalf("list bdevs on %s: %v", cl.nodes[node].name, err)
	}
	out := map[string]lvolEntry{}
	for _, b := range all {
		if b.Driver.Lvol != nil {
			out[b.name()] = b
		}
	}
	return out
}

func (cl *cluster) nodeIndex(name string) int {
	for i, p := range cl.nodes {
		if p.name == name {
			return i
		}
	}
	cl.t.Fatalf("no node %s", name)
	return -1
}

// replicasEqual digests every RW replica through its own export.
func (cl *cluster) replicasEqual(volume string, n int) {
	cl.t.Helper()
	reps, err := cl.c.ListReplicas(context.Background(), volume)
	if err != nil {
		cl.t.Fatal(err)
	}
	var ref [32]byte
	first := ""
	for _, r := range reps {
		if r.Status.Mode != api.ModeRW {
			continue
		}
		d := cl.replicaDigest(r, n)
		if first == "" {
			ref, first = d, r.Name
		} else if d != ref {
			cl.t.Fatalf("replica %s differs from %s", r.Name, first)
		}
	}
}

// hammer writes 1 MiB blocks at random offsets from 16 goroutines until a
// write fails (the engine died) and returns how many were acknowledged.
func hammer(dev interface {
	WriteAt([]byte, int64) (int, error)
}, size int64, seed uint64) (acked int, stop func()) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			buf := make([]byte, 1<<20)
			for {
				select {
				case <-done:
					return
				default:
				}
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				if _, err := dev.WriteAt(buf, rng.Int64N(size>>20)<<20); err != nil {
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		}()
	}
	return 0, func() { close(done); wg.Wait() }
}

// TestEngineCrashUnderWriteLoad kills the engine process while 1 MiB
// writes are in flight, round after round: each time the volume comes
// back healthy, its replicas must be byte-equal and repeated reads of one
// block must agree. Before the write-intent log, replicas diverged here
// about once in 3 to 8 rounds.
func TestEngineCrashUnderWriteLoad(t *testing.T) {
	cl := newCluster(t, 3)
	cl.createVolume("vol1", 3)
	v := cl.attach("vol1", "n1")
	rounds := 5
	for round := range rounds {
		dev := dialEndpoint(t, v.Status.Endpoint)
		_, stop := hammer(dev, volSize, uint64(round))
		time.Sleep(time.Duration(200+100*round) * time.Millisecond)
		pid := lastEnginePID(t, cl.nodes[0].logs())
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill engine %d: %v", pid, err)
		}
		stop()
		dev.Close()
		cl.waitFor(fmt.Sprintf("round %d: volume back with a new engine", round), 60*time.Second, func(ctx context.Context) (bool, string) {
			got, err := cl.c.GetVolume(ctx, "vol1")
			if err != nil {
				return false, err.Error()
			}
			v = got
			ok := got.Status.State == api.VolumeAttached && got.Status.Robustness == api.RobustnessHealthy && lastEnginePID(t, cl.nodes[0].logs()) != pid
			return ok, fmt.Sprintf("%s/%s", got.Status.State, got.Status.Robustness)
		})
		cl.replicasEqual("vol1", volSize)
		dev = dialEndpoint(t, v.Status.Endpoint)
		for off := int64(0); off < volSize; off += 1 << 20 {
			var first []byte
			for range 6 {
				b := make([]byte, 4096)
				if _, err := dev.ReadAt(b, off); err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = b
				} else if string(b) != string(first) {
					t.Fatalf("round %d: reads of the block at %d differ", round, off)
				}
			}
		}
		dev.Close()
	}
	if !strings.Contains(cl.nodes[0].logs(), "raid1 write-intent log active") {
		t.Error("no engine logged its activation")
	}
}

// lvolsWhere lists, as node:lvol, the lvols on every node whose name
// matches.
func (cl *cluster) lvolsWhere(match func(name string) bool) []string {
	var out []string
	for i := range cl.nodes {
		for n := range cl.lvols(i) {
			if match(n) {
				out = append(out, cl.nodes[i].name+":"+n)
			}
		}
	}
	return out
}

// rebuildSnapshots lists the rebuild snapshots on every node.
func (cl *cluster) rebuildSnapshots() []string {
	return cl.lvolsWhere(func(n string) bool { return strings.Contains(n, "-snap-rebuild-") })
}

// replaceReplica deletes a replica of the volume that is not on the
// engine's node and waits until a rebuilt replacement makes the volume
// healthy again with every replica RW.
func (cl *cluster) replaceReplica(volume, engineNode string) {
	cl.t.Helper()
	ctx := context.Background()
	reps, err := cl.c.ListReplicas(ctx, volume)
	if err != nil {
		cl.t.Fatal(err)
	}
	victim := ""
	for _, r := range reps {
		if r.Spec.Node != engineNode {
			victim = r.Name
		}
	}
	if _, err := cl.c.DeleteReplica(ctx, victim); err != nil {
		cl.t.Fatal(err)
	}
	cl.waitFor("a rebuilt replacement", 90*time.Second, func(ctx context.Context) (bool, string) {
		reps, err := cl.c.ListReplicas(ctx, volume)
		if err != nil {
			return false, err.Error()
		}
		v, err := cl.c.GetVolume(ctx, volume)
		if err != nil {
			return false, err.Error()
		}
		rw := 0
		for _, r := range reps {
			if r.Name == victim {
				return false, "victim still listed"
			}
			if r.Status.Mode == api.ModeRW {
				rw++
			}
		}
		return rw == len(reps) && v.Status.Robustness == api.RobustnessHealthy, fmt.Sprintf("%d of %d RW, %s", rw, len(reps), v.Status.Robustness)
	})
}

// TestRebuildsKeepSpaceBounded rebuilds a replica three times over a
// volume written in full: no rebuild snapshot is left behind and no
// replica holds more clusters than the volume has (plus its bitmap).
func TestRebuildsKeepSpaceBounded(t *testing.T) {
	cl := newCluster(t, 3)
	cl.createVolume("vol1", 2)
	v := cl.attach("vol1", "n1")
	dev := dialEndpoint(t, v.Status.Endpoint)
	for round := range 3 {
		writePattern(t, dev, uint64(round), volSize)
		cl.replaceReplica("vol1", "n1")
		if left := cl.rebuildSnapshots(); len(left) > 0 {
			t.Fatalf("round %d: rebuild snapshots left: %v", round, left)
		}
		reps, err := cl.c.ListReplicas(context.Background(), "vol1")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			var total uint64
			for n, lv := range cl.lvols(cl.nodeIndex(r.Spec.Node)) {
				if n == r.Name || strings.HasPrefix(n, r.Name+"-") {
					total += lv.Driver.Lvol.Allocated
				}
			}
			if limit := uint64(volSize>>20) + 1; total > limit {
				t.Errorf("round %d: replica %s holds %d clusters, more than the volume's %d and its bitmap", round, r.Name, total, volSize>>20)
			}
		}
	}
	cl.replicasEqual("vol1", volSize)
}

// TestRebuildSnapshotKeptDefect shows what the purge prevents: with the
// defect on, every rebuild leaves its snapshot on every replica.
func TestRebuildSnapshotKeptDefect(t *testing.T) {
	cl := newCluster(t, 3, "rebuild-snapshot-kept")
	cl.createVolume("vol1", 2)
	v := cl.attach("vol1", "n1")
	writePattern(t, dialEndpoint(t, v.Status.Endpoint), 1, volSize)
	cl.replaceReplica("vol1", "n1")
	if left := cl.rebuildSnapshots(); len(left) < 2 {
		t.Fatalf("rebuild snapshots with the defect on: %v, want one on each replica", left)
	}
}

// TestLeftoversAreCollected plants what an interrupted rebuild leaves: a
// rebuilding lvol on top of a copied snapshot that never made it under the
// head, named after a live replica; and the remains of a replica whose
// deletion stopped after its head. A node restart collects the rebuilding
// lvol and the headless remains; deleting the replica takes its copied
// snapshot too; a replica the manager never heard of is deleted by it.
func TestLeftoversAreCollected(t *testing.T) {
	cl := newCluster(t, 2)
	cl.createVolume("vol1", 1)
	v := cl.attach("vol1", "n1")
	writePattern(t, dialEndpoint(t, v.Status.Endpoint), 4, 2<<20)
	reps, err := cl.c.ListReplicas(context.Background(), "vol1")
	if err != nil || len(reps) != 1 {
		t.Fatalf("replicas %+v %v", reps, err)
	}
	rep := reps[0]
	node := cl.nodeIndex(rep.Spec.Node)
	lvs := "disk0"
	mk := func(name string) {
		t.Helper()
		if err := cl.rpc(node, "bdev_lvol_create", map[string]any{"lvol_name": name, "size_in_mib": 4, "thin_provision": true, "lvs_name": lvs}, nil); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	snap := func(lvol, name string) {
		t.Helper()
		if err := cl.rpc(node, "bdev_lvol_snapshot", map[string]any{"lvol_name": lvs + "/" + lvol, "snapshot_name": name}, nil); err != nil {
			t.Fatalf("snapshot %s: %v", name, err)
		}
	}
	// Copies of an interrupted rebuild of rep: <rep>-snap-copied with
	// <rep>-rebuilding on top, outside the head's chain.
	mk(rep.Name + "-rebuilding")
	snap(rep.Name+"-rebuilding", rep.Name+"-snap-copied")
	// Remains of a deleted replica: a snapshot and a bitmap, no head.
	gone := "vol9-r-abcdefgh"
	mk(gone + "-bitmap")
	mk(gone + "-tmp")
	snap(gone+"-tmp", gone+"-snap-s1")
	if err := cl.rpc(node, "bdev_lvol_delete", map[string]any{"name": lvs + "/" + gone + "-tmp"}, nil); err != nil {
		t.Fatal(err)
	}
	// A rebuild destination cut off from its source: a head cloned from a
	// remote bdev (the source's export), with its bitmap. After the
	// restart the remote is gone and the head is degraded, which
	// bdev_get_bdevs does not show.
	half := "vol7-r-qqqqqqqq"
	if err := cl.rpc(node, "bdev_remote_attach", map[string]any{"name": "rebuild-src-" + half, "address": rep.Status.Address, "export_name": rep.Status.Export, "access_key": true}, nil); err != nil {
		t.Fatalf("attach a remote source: %v", err)
	}
	if err := cl.rpc(node, "bdev_lvol_clone_bdev", map[string]any{"bdev": "rebuild-src-" + half, "lvs_name": lvs, "clone_name": half}, nil); err != nil {
		t.Fatalf("clone it: %v", err)
	}
	mk(half + "-bitmap")
	// A replica the manager does not know, with data.
	if err := cl.rpc(node, "im_replica_create", map[string]any{"name": "vol8-r-zzzzzzzz", "volume": "vol8", "size": 4 << 20, "lvs_name": lvs}, nil); err != nil {
		t.Fatalf("create an unknown replica: %v", err)
	}

	cl.restartNode(node)
	lv := cl.lvols(node)
	for _, n := range []string{rep.Name + "-rebuilding", gone + "-bitmap", gone + "-snap-s1", half + "-bitmap"} {
		if _, ok := lv[n]; ok {
			t.Errorf("%s survived the node restart", n)
		}
	}
	var all []struct {
		Name string `json:"name"`
	}
	if err := cl.rpc(node, "bdev_lvol_get_lvols", nil, &all); err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if l.Name == half {
			t.Errorf("the head cut off from its rebuild source (%s) survived the node restart", half)
		}
	}
	if _, ok := lv[rep.Name+"-snap-copied"]; !ok {
		t.Errorf("the live replica's snapshot %s was collected at restart; only its replica's deletion may take it", rep.Name+"-snap-copied")
	}
	for _, n := range []string{rep.Name, rep.Name + "-bitmap"} {
		if _, ok := lv[n]; !ok {
			t.Errorf("the live replica lost %s at restart", n)
		}
	}
	cl.waitFor("the manager to delete the replica it does not know", 60*time.Second, func(ctx context.Context) (bool, string) {
		lv := cl.lvols(node)
		var left []string
		for n := range lv {
			if strings.HasPrefix(n, "vol8-") {
				left = append(left, n)
			}
		}
		return len(left) == 0, fmt.Sprint(left)
	})

	ctx := context.Background()
	if _, err := cl.c.DetachVolume(ctx, "vol1"); err != nil {
		t.Fatal(err)
	}
	cl.waitVolume("vol1", api.VolumeDetached, "", 30*time.Second)
	if _, err := cl.c.DeleteVolume(ctx, "vol1"); err != nil {
		t.Fatal(err)
	}
	cl.waitFor("every lvol of vol1 gone", 30*time.Second, func(ctx context.Context) (bool, string) {
		var left []string
		for n := range cl.lvols(node) {
			if strings.HasPrefix(n, "vol1-") {
				left = append(left, n)
			}
		}
		slices.Sort(left)
		return len(left) == 0, fmt.Sprint(left)
	})
}

// TestOutOfSpaceReachesTheClient fills the replicas' disks: a write that
// finds no room fails with ENOSPC at the NBD client (not EIO), the volume
// stops claiming healthy and says why, and it becomes healthy again once
// room is made.
func TestOutOfSpaceReachesTheClient(t *testing.T) {
	cl := newCluster(t, 2)
	cl.createVolume("vol1", 2)
	v := cl.attach("vol1", "n1")
	dev := dialEndpoint(t, v.Status.Endpoint)
	for i := range cl.nodes {
		var stores []struct {
			Free uint64 `json:"free_clusters"`
		}
		if err := cl.rpc(i, "bdev_lvol_get_lvstores", nil, &stores); err != nil || len(stores) != 1 {
			t.Fatalf("lvstores on n%d: %+v %v", i+1, stores, err)
		}
		// Leave 4 clusters: the 16 MiB volume cannot be written in full.
		if err := cl.rpc(i, "bdev_lvol_create", map[string]any{"lvol_name": "filler", "size_in_mib": stores[0].Free - 4, "thin_provision": false, "lvs_name": "disk0"}, nil); err != nil {
			t.Fatalf("fill n%d: %v", i+1, err)
		}
	}
	var werr error
	for off := int64(0); off < volSize && werr == nil; off += 1 << 20 {
		_, werr = dev.WriteAt(make([]byte, 1<<20), off)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing 16 MiB into 4 free clusters ended with %v, want ENOSPC", werr)
	}
	cl.waitFor("the volume to say it cannot write", 30*time.Second, func(ctx context.Context) (bool, string) {
		v, err := cl.c.GetVolume(ctx, "vol1")
		if err != nil {
			return false, err.Error()
		}
		for _, c := range v.Status.Conditions {
			if c.Type == api.ConditionWritable && !c.Status && c.Reason == "OutOfSpace" {
				return v.Status.Robustness != api.RobustnessHealthy, "robustness " + v.Status.Robustness
			}
		}
		return false, fmt.Sprintf("%s %+v", v.Status.Robustness, v.Status.Conditions)
	})
	for i := range cl.nodes {
		if err := cl.rpc(i, "bdev_lvol_delete", map[string]any{"name": "disk0/filler"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	cl.waitVolume("vol1", api.VolumeAttached, api.RobustnessHealthy, 30*time.Second)
	writePattern(t, dev, 8, volSize)
	cl.replicasEqual("vol1", volSize)
}

// TestBackingImageCopiesCollected: once a backing image is deleted, the
// copies its volumes' nodes made of it go too.
func TestBackingImageCopiesCollected(t *testing.T) {
	cl := newCluster(t, 2)
	path := filepath.Join(cl.dir, "image.raw")
	if err := os.WriteFile(path, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cl.c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: "bi1", SourcePath: path}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol1", Size: volSize, NumberOfReplicas: 2, BackingImage: "bi1"}); err != nil {
		t.Fatal(err)
	}
	cl.waitVolume("vol1", api.VolumeDetached, "", 30*time.Second)
	cl.attach("vol1", "n1")
	copies := func() []string {
		return cl.lvolsWhere(func(n string) bool { return strings.HasPrefix(n, "bi-") })
	}
	if got := copies(); len(got) != 2 {
		t.Fatalf("backing image copies while the volume is attached: %v, want one per node", got)
	}
	if err := cl.c.DeleteBackingImage(ctx, "bi1"); err == nil {
		t.Fatal("a backing image in use was deleted")
	}
	if _, err := cl.c.DetachVolume(ctx, "vol1"); err != nil {
		t.Fatal(err)
	}
	cl.waitVolume("vol1", api.VolumeDetached, "", 30*time.Second)
	if _, err := cl.c.DeleteVolume(ctx, "vol1"); err != nil {
		t.Fatal(err)
	}
	cl.waitFor("volume gone", 30*time.Second, func(ctx context.Context) (bool, string) {
		_, err := cl.c.GetVolume(ctx, "vol1")
		return api.IsNotFound(err), fmt.Sprint(err)
	})
	if err := cl.c.DeleteBackingImage(ctx, "bi1"); err != nil {
		t.Fatal(err)
	}
	cl.waitFor("every copy of bi1 deleted", 30*time.Second, func(ctx context.Context) (bool, string) {
		left := copies()
		return len(left) == 0, fmt.Sprint(left)
	})
}
