package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/internal/testtool"
	"github.com/faultline/faultline/timeline"
)

// The local cluster's drivers partition the network.
var (
	_ Partitioner = (*local.Driver)(nil)
	_ Partitioner = (*local.Remote)(nil)
)

// nodeTimeout is the manager's heartbeat timeout in these tests.
const nodeTimeout = 3 * time.Second

// partitionCluster starts a local cluster for a partition test. Only root
// may change the ruleset: other users skip; root without nft fails.
func partitionCluster(t *testing.T, ctx context.Context, nodes int) (*local.Driver, *client.Client) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network partitions need root (CAP_NET_ADMIN) for nftables")
	}
	ref := testtool.Refengine(t)
	d, err := local.New(local.Config{Dir: t.TempDir(), Refengine: ref, Nodes: nodes, DiskSize: 64 << 20,
		NodeTimeout: nodeTimeout, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Timeline: timeline.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
		if tableExists(d.PartitionTable()) {
			t.Errorf("table %s outlived Down", d.PartitionTable())
		}
	})
	mgr, err := cluster.ManagerClient(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range d.Nodes() {
		waitNode(t, ctx, mgr, n.Name, api.NodeUp)
	}
	return d, mgr
}

func tableExists(table string) bool {
	return exec.Command("nft", "list", "table", "ip", table).Run() == nil
}

// until polls cond every 200ms until it holds or ctx ends; what and the
// last state cond reported make the failure message.
func until(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			t.Logf("%s after %v", what, time.Since(start).Round(10*time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v: %s", what, time.Since(start).Round(time.Second), state)
		case <-tick.C:
		}
	}
}

func waitNode(t *testing.T, ctx context.Context, mgr *client.Client, node, state string) {
	t.Helper()
	until(t, ctx, "node "+node+" "+state, func() (bool, string) {
		n, err := mgr.GetNode(ctx, node)
		return err == nil && n.Status.State == state, fmt.Sprintf("%+v, err %v", n.Status, err)
	})
}

// TestPartitionNodeFromManager cuts node-1 off the manager, both ways and
// its heartbeats only: the manager marks it down after its heartbeat
// timeout, and up again after the heal. node-2 stays up throughout.
func TestPartitionNodeFromManager(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out heartbeat timeouts and partitions on a real local cluster; skipped under -short (the race run)")
	}
	for _, dir := range []cluster.Direction{cluster.Both, cluster.AToB} {
		t.Run(string(dir), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			d, mgr := partitionCluster(t, ctx, 2)
			rec := timeline.NewRecorder()
			in := NewInjector(rec, 1, nil)
			f := NetworkPartition(d, cluster.Partition{A: "node-1", B: cluster.ManagerEndpoint, Direction: dir})
			if err := in.Inject(ctx, f); err != nil {
				t.Fatal(err)
			}
			waitNode(t, ctx, mgr, "node-1", api.NodeDown)
			if n, err := mgr.GetNode(ctx, "node-2"); err != nil || n.Status.State != api.NodeUp {
				t.Errorf("node-2 under node-1's partition: %+v, err %v", n.Status, err)
			}
			if err := in.Heal(ctx, f); err != nil {
				t.Fatal(err)
			}
			waitNode(t, ctx, mgr, "node-1", api.NodeUp)
		})
	}
}

// TestPartitionNodesWhileAttached partitions node-1, where a 2-replica
// volume's engine runs, from node-2, which holds its other replica, while
// the volume is written: the engine fails that replica, the volume
// degrades, writes go on; after the heal the control plane rebuilds the
// volume to healthy with equal replicas. One way, only node-2's packets to
// node-1 are lost: the engine's writes reach the replica but are never
// acknowledged.
func TestPartitionNodesWhileAttached(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out heartbeat timeouts and partitions on a real local cluster; skipped under -short (the race run)")
	}
	tests := []cluster.Partition{
		{A: "node-1", B: "node-2", Direction: cluster.Both},
		{A: "node-2", B: "node-1", Direction: cluster.AToB},
	}
	for _, p := range tests {
		t.Run(string(p.Dir()), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			d, mgr := partitionCluster(t, ctx, 2)
			const volume, size = "part", 16 << 20
			dev := attached(t, ctx, mgr, volume, size)
			remote := replicaOn(ctx, t, mgr, volume, "node-2").Name

			rec := timeline.NewRecorder()
			in := NewInjector(rec, 1, nil)
			f := NetworkPartition(d, p)
			if err := in.Inject(ctx, f); err != nil {
				t.Fatal(err)
			}
			// Writes go on under the partition: each must complete.
			w := boundedWriter{dev: dev, seed: 7}
			w.write(t, ctx, 0, 4<<20)
			until(t, ctx, "engine fails "+remote+" and the volume degrades", func() (bool, string) {
				v, err := mgr.GetVolume(ctx, volume)
				es, eerr := mgr.ListEngines(ctx, volume)
				r, rerr := mgr.GetReplica(ctx, remote)
				var modes map[string]string
				if len(es) == 1 {
					modes = es[0].Status.ReplicaModes
				}
				// The engine reports the replica ERR, or has dropped it.
				failed := len(es) == 1 && modes[remote] != api.ModeRW && modes[remote] != api.ModeWO
				return err == nil && eerr == nil && failed && v.Status.Robustness == api.RobustnessDegraded,
					fmt.Sprintf("robustness %q, engine's replica modes %v, replica %s: %+v (%v), errs %v %v",
						v.Status.Robustness, modes, remote, r.Status, rerr, err, eerr)
			})
			w.write(t, ctx, 4<<20, 4<<20)

			if err := in.Heal(ctx, f); err != nil {
				t.Fatal(err)
			}
			if _, err := mgr.WaitVolume(ctx, volume, func(v api.Volume) bool {
				return v.Status.Robustness == api.RobustnessHealthy
			}); err != nil {
				t.Fatalf("volume not healthy after the heal: %v", err)
			}
			w.verify(t, ctx, 0, 8<<20)
			c := integrity.Checker{API: mgr, Credential: d.Credential()}
			v := integrity.Eventually(ctx, time.Minute, 500*time.Millisecond, func(ctx context.Context) checkers.Verdict {
				return c.ReplicasEqual(ctx, volume)
			})
			if v.Outcome != checkers.Pass || !strings.Contains(v.Summary, "2 replicas") {
				t.Fatalf("replicas after the heal: %s: %s %+v", v.Outcome, v.Summary, v.Evidence)
			}
		})
	}
}

// attached creates a 2-replica volume, attaches it on node-1 and connects
// to its frontend.
func attached(t *testing.T, ctx context.Context, mgr *client.Client, name string, size int64) *nbd.Client {
	t.Helper()
	v := attachedVolume(ctx, t, mgr, name, size, 2, "node-1")
	dev := dialVolume(ctx, t, v.Status.Endpoint)
	t.Cleanup(func() { dev.Close() })
	return dev
}

// boundedWriter writes a deterministic pattern through the frontend, each write
// bounded by a deadline so that a hung engine fails the test instead of
// hanging it, and reads it back.
type boundedWriter struct {
	dev  *nbd.Client
	seed byte
}

const writeChunk = 256 << 10

func (w boundedWriter) block(off int64) []byte {
	b := make([]byte, writeChunk)
	for i := range b {
		b[i] = byte(off>>12) ^ byte(i) ^ w.seed
	}
	return b
}

func (w boundedWriter) write(t *testing.T, ctx context.Context, off, n int64) {
	t.Helper()
	for o := off; o < off+n; o += writeChunk {
		err := bounded(ctx, time.Minute, func() error {
			_, err := w.dev.WriteAt(w.block(o), o)
			return err
		})
		if err != nil {
			t.Fatalf("write at %d under the partition: %v", o, err)
		}
	}
	if err := bounded(ctx, time.Minute, w.dev.Flush); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func (w boundedWriter) verify(t *testing.T, ctx context.Context, off, n int64) {
	t.Helper()
	got := make([]byte, writeChunk)
	for o := off; o < off+n; o += writeChunk {
		err := bounded(ctx, time.Minute, func() error {
			_, err := w.dev.ReadAt(got, o)
			return err
		})
		if err != nil {
			t.Fatalf("read at %d: %v", o, err)
		}
		if string(got) != string(w.block(o)) {
			t.Fatalf("data at %d differs from what was written", o)
		}
	}
}

// errHung is what bounded returns when f does not return in time.
var errHung = errors.New("did not complete")

// bounded runs f and gives up waiting for it after d: the NBD client's
// calls take no context.
func bounded(ctx context.Context, d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case err := <-done:
		return err
	case <-tm.C:
		return fmt.Errorf("%w within %v", errHung, d)
	case <-ctx.Done():
		return ctx.Err()
	}
}
