package manager

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// A replica that fails under a live engine while its node and disk are up
// is restarted in place (taken out of the engine, stopped, started, added
// back WO) instead of replaced; once the rebuild makes it RW it is healthy
// with RestartedAt cleared. If it fails again before turning RW, it is
// replaced by a new replica on the free node rather than restarted again.
func TestFailedReplicaRestartedInPlace(t *testing.T) {
	tests := []struct {
		name string
		// failAgain fails the replica again while it rebuilds.
		failAgain bool
	}{
		{"rebuilt to RW", false},
		{"fails again while WO: replaced", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tm, _ := healthyVolume(t, "n1", "n2", "n3")
			ctx := ctxT(t)
			reps, err := tm.c.ListReplicas(ctx, "vol")
			if err != nil || len(reps) != 2 {
				t.Fatalf("replicas %v, %v", reps, err)
			}
			failed := reps[1]
			node := failed.Spec.Node
			rec.setMode(failed.Name, api.ModeERR)
			waitFor(t, "the failed replica rejoined the engine", func() (bool, error) {
				r, err := tm.c.GetReplica(ctx, failed.Name)
				return r.Status.Mode == api.ModeWO && !r.Status.RestartedAt.IsZero(), err
			})
			want := []string{
				"n1 engine_replica_remove " + failed.Name,
				node + " replica_delete " + failed.Name + " cleanup=false",
				node + " replica_create " + failed.Name,
				"n1 engine_replica_add " + failed.Name,
			}
			if got := callsAfterLast(rec.snapshot(), "n1 engine_replica_remove "+failed.Name); !slices.Equal(got, want) {
				t.Errorf("restart calls:\n got %q\nwant %q", got, want)
			}
			if !tt.failAgain {
				rec.setMode(failed.Name, api.ModeRW)
				waitFor(t, "healthy on the restarted replica", func() (bool, error) {
					v, err := tm.c.GetVolume(ctx, "vol")
					return v.Status.Robustness == api.RobustnessHealthy, err
				})
				r, err := tm.c.GetReplica(ctx, failed.Name)
				if err != nil || !r.Status.RestartedAt.IsZero() || !r.Status.FailedAt.IsZero() {
					t.Errorf("restarted replica after rebuild: %+v, %v", r.Status, err)
				}
				if now, _ := tm.c.ListReplicas(ctx, "vol"); len(now) != 2 {
					t.Errorf("a replica was added: %d replicas", len(now))
				}
				return
			}
			rec.setMode(failed.Name, api.ModeERR)
			waitFor(t, "a replacement on the free node", func() (bool, error) {
				now, err := tm.c.ListReplicas(ctx, "vol")
				for _, r := range now {
					if r.Name != failed.Name && r.Spec.Node != "n1" && r.Status.Mode == api.ModeWO {
						return true, err
					}
				}
				return false, err
			})
			if n := rec.count(node + " replica_create " + failed.Name); n != 2 {
				t.Errorf("replica started %d times, want 2 (attach, one restart)", n)
			}
		})
	}
}

// A restart that fails before the replica starts (here its node refuses to
// stop it) is tried once: the replica is replaced, not restarted on every
// pass.
func TestFailedRestartNotRetried(t *testing.T) {
	rec, tm, failed, stop := failWithRefusedStop(t, &jsonrpc.Error{Code: -32603, Message: "stop export: Input/output error"})
	ctx := ctxT(t)
	waitFor(t, "a replacement rebuilding", func() (bool, error) {
		now, err := tm.c.ListReplicas(ctx, "vol")
		for _, r := range now {
			if r.Name != failed.Name && r.Spec.Node != "n1" && r.Status.Mode == api.ModeWO {
				return true, err
			}
		}
		return false, err
	})
	if n := rec.count(stop); n != 1 {
		t.Errorf("restart tried %d times, want once", n)
	}
}

// A node that drops the connection while the replica is being stopped (its
// instance manager just restarted) refused nothing: the same replica is
// restarted on a later pass, not replaced.
func TestRestartRetriedAfterTransportError(t *testing.T) {
	rec, tm, failed, stop := failWithRefusedStop(t, errors.New("call im_replica_delete: json-rpc connection closed: EOF"))
	ctx := ctxT(t)
	waitFor(t, "a first restart attempt", func() (bool, error) { return rec.count(stop) > 0, nil })
	// While the node does not answer, a try a second at most: each try
	// writes the replica twice, and without the wait every write queued
	// the next try at once (about 500 tries a second on a real cluster).
	time.Sleep(2 * restartRetryAfter)
	if n := rec.count(stop); n > 4 {
		t.Errorf("%d restart tries in %v of an unanswering node, want at most 4", n, 2*restartRetryAfter)
	}
	rec.mu.Lock()
	delete(rec.refuse, "stop:"+failed.Name)
	rec.mu.Unlock()
	waitFor(t, "the same replica rejoined the engine", func() (bool, error) {
		r, err := tm.c.GetReplica(ctx, failed.Name)
		return r.Status.Mode == api.ModeWO, err
	})
	if now, _ := tm.c.ListReplicas(ctx, "vol"); len(now) != 2 {
		t.Errorf("%d replicas: the failed one was replaced", len(now))
	}
}

// callsAfterLast returns the calls from the last occurrence of first on,
// without the monitor's polls.
func callsAfterLast(calls []string, first string) []string {
	i := slices.Index(calls, first)
	for j := range calls {
		if calls[j] == first {
			i = j
		}
	}
	if i < 0 {
		return nil
	}
	return calls[i:]
}

// While a node's disk refuses every replica start (EIO), the manager keeps
// new replicas off that disk for a growing interval instead of scheduling,
// starting and dropping one every pass: over three seconds that is at most
// a few starts there, where the loop without backoff made one every
// monitor pass (50 ms here).
func TestStartRefusedDiskBackoff(t *testing.T) {
	rec, tm, _ := healthyVolume(t, "n1", "n2")
	ctx := ctxT(t)
	reps, err := tm.c.ListReplicas(ctx, "vol")
	if err != nil || len(reps) != 2 {
		t.Fatalf("replicas %v, %v", reps, err)
	}
	failed := reps[1]
	node := failed.Spec.Node
	rec.mu.Lock()
	rec.refuse["node:"+node] = &jsonrpc.Error{Code: -int(syscall.EIO), Message: "Input/output error"}
	rec.mu.Unlock()
	rec.setMode(failed.Name, api.ModeERR)
	starts := func() int {
		n := 0
		for _, c := range rec.snapshot() {
			if strings.HasPrefix(c, node+" replica_create ") {
				n++
			}
		}
		return n
	}
	before := starts()
	waitFor(t, "the failed replica dropped", func() (bool, error) {
		_, err := tm.c.GetReplica(ctx, failed.Name)
		return api.IsNotFound(err), nil
	})
	time.Sleep(3 * time.Second) // measured window: the count over it is the assertion
	if n := starts() - before; n > 4 {
		t.Errorf("%d replica starts on the failing disk in about 3 s; want at most 4 (backoff 1 s, 2 s, ...)", n)
	}
	v, err := tm.c.GetVolume(ctx, "vol")
	if err != nil || v.Status.Robustness != api.RobustnessDegraded {
		t.Errorf("volume while the disk fails: %+v, %v", v.Status, err)
	}

	// The disk heals: the next start after the backoff succeeds.
	rec.mu.Lock()
	delete(rec.refuse, "node:"+node)
	rec.mu.Unlock()
	waitFor(t, "a replica rebuilding on the healed disk", func() (bool, error) {
		now, err := tm.c.ListReplicas(ctx, "vol")
		for _, r := range now {
			if r.Spec.Node == node && r.Status.Mode == api.ModeWO {
				return true, err
			}
		}
		return false, err
	})
}

// failWithRefusedStop starts a healthy 2-replica volume, makes the node of
// its second replica answer err when asked to stop it, and fails that
// replica in the engine. It returns the replica and the recorded stop call.
func failWithRefusedStop(t *testing.T, err error) (*recorder, *testManager, api.Replica, string) {
	t.Helper()
	rec, tm, _ := healthyVolume(t, "n1", "n2", "n3")
	reps, lerr := tm.c.ListReplicas(ctxT(t), "vol")
	if lerr != nil || len(reps) != 2 {
		t.Fatalf("replicas %v, %v", reps, lerr)
	}
	failed := reps[1]
	rec.mu.Lock()
	rec.refuse["stop:"+failed.Name] = err
	rec.mu.Unlock()
	rec.setMode(failed.Name, api.ModeERR)
	return rec, tm, failed, failed.Spec.Node + " replica_delete " + failed.Name + " cleanup=false"
}
