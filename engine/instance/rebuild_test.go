package instance_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
)

// replicaDigest reads a replica's head export directly, with its key.
func (cl *cluster) replicaDigest(r api.Replica, n int) [32]byte {
	t := cl.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nbd.DialWith(ctx, "tcp", r.Status.Address, r.Status.Export, nbd.DialOptions{Key: cl.cred.ExportKey(r.Status.Export)})
	if err != nil {
		t.Fatalf("replica %s: %v", r.Name, err)
	}
	defer c.Close()
	return digest(t, c, n)
}

// rebuildOnBackingImage builds a 2-replica volume on a backing image of
// random data over 3 nodes, overwrites part of it, deletes one replica and
// waits for the replacement to be rebuilt, on cl (3 nodes). It returns
// the volume digest before the deletion and the cluster.
func rebuildOnBackingImage(t *testing.T, cl *cluster) (*cluster, [32]byte) {
	img := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(9, 9))
	for i := range img {
		img[i] = byte(r.Uint32())
	}
	path := filepath.Join(cl.dir, "image.raw")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: "bi1", SourcePath: path}); err != nil {
		t.Fatalf("backing image: %v", err)
	}
	if _, err := cl.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol1", Size: volSize, NumberOfReplicas: 2, BackingImage: "bi1"}); err != nil {
		t.Fatalf("create volume: %v", err)
	}
	cl.waitVolume("vol1", api.VolumeDetached, "", 30*time.Second)
	v := cl.attach("vol1", "n1")
	dev := dialEndpoint(t, v.Status.Endpoint)
	// The image shows through where nothing was written.
	head := make([]byte, 1<<20)
	if _, err := dev.ReadAt(head, 2<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, img[2<<20:3<<20]) {
		t.Fatal("volume does not show its backing image")
	}
	// Overwrite 1 MiB in the middle of the image, part of one cluster
	// beyond it, and some space past it.
	// A user snapshot splits the writes so the rebuild copies two
	// snapshots on top of the backing image.
	for i, off := range []int64{1 << 20, 3<<20 + 4096, 8 << 20} {
		w := bytes.Repeat([]byte{byte(0x5a + i)}, 64<<10)
		if _, err := dev.WriteAt(w, off); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := dev.Flush(); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.c.SnapshotVolume(ctx, "vol1", "s1"); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
			cl.waitFor("snapshot s1 ready", 30*time.Second, func(ctx context.Context) (bool, string) {
				snaps, err := cl.c.ListSnapshots(ctx, "vol1")
				return err == nil && len(snaps) == 1 && snaps[0].Status.State == api.SnapshotReady, fmt.Sprintf("%+v %v", snaps, err)
			})
		}
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	want := digest(t, dev, volSize)
	dev.Close()
	reps, err := cl.c.ListReplicas(ctx, "vol1")
	if err != nil || len(reps) != 2 {
		t.Fatalf("replicas: %+v %v", reps, err)
	}
	if _, err := cl.c.DeleteReplica(ctx, reps[0].Name); err != nil {
		t.Fatalf("delete replica: %v", err)
	}
	cl.waitFor("replacement replica rebuilt", 90*time.Second, func(ctx context.Context) (bool, string) {
		reps, err := cl.c.ListReplicas(ctx, "vol1")
		if err != nil {
			return false, err.Error()
		}
		rw := 0
		for _, r := range reps {
			if r.Name == reps[0].Name && r.Spec.Deleting {
				continue
			}
			if r.Status.Mode == api.ModeRW {
				rw++
			}
		}
		v, err := cl.c.GetVolume(ctx, "vol1")
		return err == nil && rw == 2 && len(reps) == 2 && v.Status.Robustness == api.RobustnessHealthy, fmt.Sprintf("%d RW of %d; %+v", rw, len(reps), v.Status)
	})
	return cl, want
}

// TestRebuildOnBackingImage (seed 004): after a replica of a volume on a
// backing image is replaced by rebuild, the volume reads the same data,
// stably, and both replicas hold identical data.
func TestRebuildOnBackingImage(t *testing.T) {
	cl, want := rebuildOnBackingImage(t, newCluster(t, 3))
	if !strings.Contains(cl.nodes[0].logs(), `msg="rebuild done"`) {
		t.Fatal("the engine's node logged no finished rebuild")
	}
	copied := 0
	for _, p := range cl.nodes {
		copied += strings.Count(p.logs(), `msg="snapshot copied"`)
	}
	if copied != 2 {
		t.Fatalf("the rebuild copied %d snapshots, want 2 (s1 and the rebuild snapshot)", copied)
	}
	if testing.Verbose() {
		for _, p := range cl.nodes {
			for _, l := range strings.Split(p.logs(), "\n") {
				if strings.Contains(l, "rebuild") || strings.Contains(l, "copied") || strings.Contains(l, "set parent") {
					t.Log(l)
				}
			}
		}
	}
	v, _ := cl.c.GetVolume(context.Background(), "vol1")
	dev := dialEndpoint(t, v.Status.Endpoint)
	for i := range 4 {
		if got := digest(t, dev, volSize); got != want {
			t.Fatalf("read %d after rebuild: digest %x, want %x", i, got, want)
		}
	}
	reps, _ := cl.c.ListReplicas(context.Background(), "vol1")
	for _, r := range reps {
		if got := cl.replicaDigest(r, volSize); got != want {
			t.Errorf("replica %s on %s: digest %x, want %x", r.Name, r.Spec.Node, got, want)
		}
	}
	// Writes after the rebuild reach both replicas.
	writePattern(t, dev, 12, 2<<20)
	d := digest(t, dev, volSize)
	for _, r := range reps {
		if got := cl.replicaDigest(r, volSize); got != d {
			t.Errorf("replica %s after new writes: digest %x, want %x", r.Name, got, d)
		}
	}
}

// TestRebuildBIParentDefect: with rebuild-bi-parent-by-full-name (seed
// 004) the rebuilt replica lacks the backing image, which the per-replica
// digests show.
func TestRebuildBIParentDefect(t *testing.T) {
	cl, want := rebuildOnBackingImage(t, newCluster(t, 3, "rebuild-bi-parent-by-full-name"))
	reps, _ := cl.c.ListReplicas(context.Background(), "vol1")
	differ := 0
	for _, r := range reps {
		if cl.replicaDigest(r, volSize) != want {
			differ++
		}
	}
	if differ != 1 {
		t.Fatalf("%d replicas differ from the volume's digest, want exactly the rebuilt one", differ)
	}
}

// TestRebuildOverAuthenticatedTCP runs the rebuild with the nodes'
// JSON-RPC on TCP only behind the cluster credential: the manager reaches
// the nodes, and the engine's node the replicas' nodes, by proving it.
func TestRebuildOverAuthenticatedTCP(t *testing.T) {
	cl, want := rebuildOnBackingImage(t, newClusterWith(t, clusterOptions{nodes: 3, tcpRPC: true}))
	nodes, err := cl.c.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if !strings.HasPrefix(n.Spec.RPCAddress, "tcp:") {
			t.Fatalf("node %s is reached at %q, want its TCP JSON-RPC", n.Name, n.Spec.RPCAddress)
		}
	}
	if !strings.Contains(cl.nodes[0].logs(), `msg="rebuild done"`) {
		t.Fatal("the engine's node logged no finished rebuild")
	}
	reps, _ := cl.c.ListReplicas(context.Background(), "vol1")
	for _, r := range reps {
		if got := cl.replicaDigest(r, volSize); got != want {
			t.Errorf("replica %s on %s: digest %x, want %x", r.Name, r.Spec.Node, got, want)
		}
	}
}
