package instance_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

var enginePID = regexp.MustCompile(`msg="engine process started".* pid=(\d+)`)

// lastEnginePID returns the pid of the newest engine process a node started.
func lastEnginePID(t *testing.T, log string) int {
	t.Helper()
	m := enginePID.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		t.Fatal("no engine process started in the node's log")
	}
	pid, _ := strconv.Atoi(m[len(m)-1][1])
	return pid
}

// TestEngineCrash kills the engine process with SIGKILL: I/O on the open
// frontend fails at once with an error (never hangs), and the manager
// brings the volume back with every flushed write.
func TestEngineCrash(t *testing.T) {
	cl := newCluster(t, 2)
	cl.createVolume("vol1", 2)
	v := cl.attach("vol1", "n1")
	dev := dialEndpoint(t, v.Status.Endpoint)
	want := sha256.Sum256(writePattern(t, dev, 3, 2<<20))
	pid := lastEnginePID(t, cl.nodes[0].logs())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill engine %d: %v", pid, err)
	}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		var err error
		// The first reads may still be answered before the death is seen.
		for range 1000 {
			if _, err = dev.ReadAt(buf, 0); err != nil {
				break
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("reads through the frontend of a killed engine kept succeeding")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("I/O on the frontend of a killed engine hangs")
	}
	dev.Close()
	cl.waitFor("volume recovers after engine crash", 60*time.Second, func(ctx context.Context) (bool, string) {
		v, err := cl.c.GetVolume(ctx, "vol1")
		if err != nil {
			return false, err.Error()
		}
		if v.Status.State != api.VolumeAttached || v.Status.Robustness != api.RobustnessHealthy {
			return false, fmt.Sprintf("%s/%s", v.Status.State, v.Status.Robustness)
		}
		return lastEnginePID(t, cl.nodes[0].logs()) != pid, "engine not restarted"
	})
	v, _ = cl.c.GetVolume(context.Background(), "vol1")
	dev = dialEndpoint(t, v.Status.Endpoint)
	if got := digest(t, dev, 2<<20); got != want {
		t.Fatalf("after engine crash: digest %x, want %x", got, want)
	}
}

// TestReplicaFailure stops the node of one replica of an attached volume:
// the engine marks that replica ERR, the manager sees it and the volume
// turns degraded while I/O goes on.
func TestReplicaFailure(t *testing.T) {
	cl := newCluster(t, 3)
	cl.createVolume("vol1", 2)
	reps, err := cl.c.ListReplicas(context.Background(), "vol1")
	if err != nil || len(reps) != 2 {
		t.Fatalf("replicas: %+v %v", reps, err)
	}
	// Attach on the node without a replica, then stop a replica's node.
	holders := map[string]bool{reps[0].Spec.Node: true, reps[1].Spec.Node: true}
	var attach string
	for _, p := range cl.nodes {
		if !holders[p.name] {
			attach = p.name
		}
	}
	v := cl.attach("vol1", attach)
	dev := dialEndpoint(t, v.Status.Endpoint)
	writePattern(t, dev, 5, 1<<20)
	victim, survivor := reps[0], reps[1]
	revBefore := cl.revision(survivor)
	for _, p := range cl.nodes {
		if p.name == victim.Spec.Node {
			p.kill()
		}
	}
	// The next writes reach the dead replica and fail on it only.
	data := writePattern(t, dev, 6, 1<<20)
	// The engine marks it ERR; the manager may already have taken it out
	// of the engine to restart it in place (its node does not answer, so
	// it is replaced once the node is marked down).
	cl.waitFor("replica ERR in the engine", 30*time.Second, func(ctx context.Context) (bool, string) {
		eng, err := cl.c.ListEngines(ctx, "vol1")
		if err != nil || len(eng) != 1 {
			return false, fmt.Sprintf("%+v %v", eng, err)
		}
		modes := eng[0].Status.ReplicaModes
		victimMode, member := modes[victim.Name]
		return (victimMode == api.ModeERR || !member) && modes[reps[1].Name] == api.ModeRW, fmt.Sprint(modes)
	})
	// The survivor holds newer data than the failed replica: its
	// revision advances.
	cl.waitFor("survivor's revision advances", 30*time.Second, func(ctx context.Context) (bool, string) {
		rev := cl.revision(survivor)
		return rev > revBefore, fmt.Sprintf("revision %d, was %d", rev, revBefore)
	})
	if got, want := digest(t, dev, 1<<20), sha256.Sum256(data); got != want {
		t.Fatalf("degraded volume: digest %x, want %x", got, want)
	}
	// The manager replaces the failed replica by a rebuild on the node
	// left (the attach node) and the volume is healthy again.
	cl.waitFor("replacement rebuilt", 60*time.Second, func(ctx context.Context) (bool, string) {
		v, err := cl.c.GetVolume(ctx, "vol1")
		if err != nil {
			return false, err.Error()
		}
		eng, err := cl.c.ListEngines(ctx, "vol1")
		if err != nil || len(eng) != 1 {
			return false, fmt.Sprintf("%+v %v", eng, err)
		}
		rw := 0
		for n, mode := range eng[0].Status.ReplicaModes {
			if mode == api.ModeRW && n != victim.Name {
				rw++
			}
		}
		return v.Status.Robustness == api.RobustnessHealthy && rw == 2, fmt.Sprintf("%s, modes %v", v.Status.Robustness, eng[0].Status.ReplicaModes)
	})
	if got, want := digest(t, dev, 1<<20), sha256.Sum256(data); got != want {
		t.Fatalf("after rebuild: digest %x, want %x", got, want)
	}
}

// TestStaleHeadCacheDefect turns on im-restart-stale-head-cache (seed bug
// 003): after a node restart the replica head is created again, which the
// lvstore refuses with "File exists", and the volume does not recover.
func TestStaleHeadCacheDefect(t *testing.T) {
	cl := newCluster(t, 2, "im-restart-stale-head-cache")
	cl.createVolume("vol1", 1)
	ri := cl.replicaNode("vol1")
	cl.attach("vol1", cl.nodes[1-ri].name)
	cl.restartNode(ri)
	cl.waitFor("replica start refused with File exists", 30*time.Second, func(ctx context.Context) (bool, string) {
		return strings.Contains(cl.mgr.logs(), "File exists"), "no File exists error in the manager's log yet"
	})
	if strings.Count(cl.nodes[ri].logs(), "reused=true") != 0 {
		t.Fatal("with the defect on, the head was reused")
	}
}

// revision asks a replica's node for the replica's revision.
func (cl *cluster) revision(r api.Replica) uint64 {
	cl.t.Helper()
	for _, p := range cl.nodes {
		if p.name != r.Spec.Node {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := jsonrpc.Dial(ctx, "unix", filepath.Join(cl.dir, p.name, "rpc.sock"))
		if err != nil {
			cl.t.Fatal(err)
		}
		defer c.Close()
		var info improto.ReplicaInfo
		if err := c.Call(ctx, improto.MethodReplicaGet, improto.NameRequest{Name: r.Name}, &info); err != nil {
			cl.t.Fatalf("replica %s: %v", r.Name, err)
		}
		return info.Revision
	}
	cl.t.Fatalf("no node %s", r.Spec.Node)
	return 0
}
