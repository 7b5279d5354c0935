package instance_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// replicaNode returns the node index holding the volume's only replica.
func (cl *cluster) replicaNode(volume string) int {
	cl.t.Helper()
	reps, err := cl.c.ListReplicas(context.Background(), volume)
	if err != nil || len(reps) != 1 {
		cl.t.Fatalf("replicas of %s: %+v, %v", volume, reps, err)
	}
	for i, p := range cl.nodes {
		if p.name == reps[0].Spec.Node {
			return i
		}
	}
	cl.t.Fatalf("replica on unknown node %s", reps[0].Spec.Node)
	return -1
}

// TestNodeRestartUnderVolume kills the node process holding a 1-replica
// volume's replica with SIGKILL and starts it again, ten times (issue 3):
// each time the replica's head is found on disk and reused, the volume
// returns to attached and healthy, and the data written before is intact.
func TestNodeRestartUnderVolume(t *testing.T) {
	cl := newCluster(t, 2)
	cl.createVolume("vol1", 1)
	ri := cl.replicaNode("vol1")
	attachTo := cl.nodes[1-ri].name
	v := cl.attach("vol1", attachTo)
	dev := dialEndpoint(t, v.Status.Endpoint)
	want := sha256.Sum256(writePattern(t, dev, 7, 2<<20))
	dev.Close()
	rounds := 10
	if n, err := strconv.Atoi(os.Getenv("IM_RESTART_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	var took []time.Duration
	for round := range rounds {
		start := time.Now()
		cl.restartNode(ri)
		// The engine's replica connection broke: the volume must go
		// through a failure and come back healthy.
		cl.waitFor(fmt.Sprintf("round %d: volume recovers", round), 60*time.Second, func(ctx context.Context) (bool, string) {
			v, err := cl.c.GetVolume(ctx, "vol1")
			if err != nil {
				return false, err.Error()
			}
			if v.Status.State != api.VolumeAttached || v.Status.Robustness != api.RobustnessHealthy {
				return false, fmt.Sprintf("%s/%s", v.Status.State, v.Status.Robustness)
			}
			eng, err := cl.c.ListEngines(ctx, "vol1")
			if err != nil || len(eng) != 1 {
				return false, fmt.Sprintf("engines %+v %v", eng, err)
			}
			for _, mode := range eng[0].Status.ReplicaModes {
				if mode != api.ModeRW {
					return false, fmt.Sprintf("modes %v", eng[0].Status.ReplicaModes)
				}
			}
			// A frontend that still fails I/O is not recovered.
			d, err := dialQuiet(ctx, v.Status.Endpoint)
			if err != nil {
				return false, err.Error()
			}
			defer d.Close()
			buf := make([]byte, 4096)
			if _, err := d.ReadAt(buf, 0); err != nil {
				return false, "read: " + err.Error()
			}
			return true, ""
		})
		took = append(took, time.Since(start))
		// The restarted node found the head on disk and reused it.
		if n := strings.Count(cl.nodes[ri].logs(), `msg="replica running"`); n < round+2 {
			t.Fatalf("round %d: replica started %d times on its node, want %d", round, n, round+2)
		}
		if strings.Count(cl.nodes[ri].logs(), "reused=false") != 1 {
			t.Fatalf("round %d: the replica head was created more than once:\n%s", round, cl.nodes[ri].logs())
		}
		v, _ := cl.c.GetVolume(context.Background(), "vol1")
		dev := dialEndpoint(t, v.Status.Endpoint)
		if got := digest(t, dev, 2<<20); got != want {
			t.Fatalf("round %d: digest %x, want %x", round, got, want)
		}
		dev.Close()
	}
	// Measured, not asserted: how long a node restart takes to bring the
	// volume back to healthy (polling granularity 100 ms).
	slices.Sort(took)
	t.Logf("node restart to healthy over %d rounds: median %v, min %v, max %v", rounds, took[len(took)/2], took[0], took[len(took)-1])
}
