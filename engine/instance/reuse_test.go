package instance_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// rpcError is one entry of refengine_get_rpc_errors.
type rpcError struct {
	Method  string `json:"method"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// headExists counts the create and clone calls a node answered "File
// exists" since it started: seed bug 003's symptom.
func (cl *cluster) headExists(node int) uint64 {
	cl.t.Helper()
	var errs []rpcError
	if err := cl.rpc(node, "refengine_get_rpc_errors", nil, &errs); err != nil {
		cl.t.Fatalf("rpc errors of %s: %v", cl.nodes[node].name, err)
	}
	var n uint64
	for _, e := range errs {
		if (e.Method == "bdev_lvol_create" || e.Method == "bdev_lvol_clone") && e.Message == "File exists" {
			n += e.Count
		}
	}
	return n
}

// TestCrashedReplicaReused crashes one replica of a 2-replica volume inside
// its live node (its exports stopped, as faults.ReplicaCrash does). The
// manager restarts that replica in place: the node reconstructs it from
// its lvstore and reuses its head, and the same replica is RW again.
// With im-restart-stale-head-cache on, the reconstruction trusts the stale
// chain on this path too: the node creates the head again, answers -17,
// and the manager falls back to a new replica.
func TestCrashedReplicaReused(t *testing.T) {
	tests := []struct {
		name    string
		defects []string
	}{
		{"clean", nil},
		{"stale head cache", []string{"im-restart-stale-head-cache"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newCluster(t, 2, tt.defects...)
			cl.createVolume("vol1", 2)
			v := cl.attach("vol1", "n1")
			cl.waitVolume("vol1", api.VolumeAttached, api.RobustnessHealthy, time.Minute)
			reps, err := cl.c.ListReplicas(context.Background(), "vol1")
			if err != nil || len(reps) != 2 {
				t.Fatalf("replicas %+v, %v", reps, err)
			}
			victim := reps[0]
			if victim.Spec.Node != "n2" {
				victim = reps[1]
			}
			crashed := time.Now()
			for _, export := range []string{victim.Status.Export, victim.Status.Export + "-bitmap"} {
				if err := cl.rpc(1, "nbd_export_stop", map[string]any{"export_name": export}, nil); err != nil {
					t.Fatalf("crash %s: %v", export, err)
				}
			}
			dev := dialEndpoint(t, v.Status.Endpoint)
			if _, err := dev.WriteAt(make([]byte, 4096), 0); err != nil {
				t.Fatal(err)
			}
			dev.Flush()
			if tt.defects != nil {
				cl.waitFor("the restart refused with File exists", 30*time.Second, func(ctx context.Context) (bool, string) {
					n := cl.headExists(1)
					return n > 0, fmt.Sprintf("%d File exists answers", n)
				})
				if !strings.Contains(cl.nodes[1].logs(), "replica reconstructed for restart") {
					t.Error("the crashed replica was not reconstructed before its restart")
				}
				return
			}
			cl.waitFor("the volume degraded by the crash", 30*time.Second, func(ctx context.Context) (bool, string) {
				v, err := cl.c.GetVolume(ctx, "vol1")
				if err != nil {
					return false, err.Error()
				}
				return v.Status.LastDegradedAt.After(crashed), "last degraded " + v.Status.LastDegradedAt.String()
			})
			cl.waitFor("the crashed replica RW again, volume healthy", 60*time.Second, func(ctx context.Context) (bool, string) {
				r, err := cl.c.GetReplica(ctx, victim.Name)
				if err != nil {
					return false, err.Error()
				}
				v, err := cl.c.GetVolume(ctx, "vol1")
				if err != nil {
					return false, err.Error()
				}
				return r.Status.Mode == api.ModeRW && v.Status.Robustness == api.RobustnessHealthy,
					fmt.Sprintf("replica %s/%s, volume %s", r.Status.State, r.Status.Mode, v.Status.Robustness)
			})
			if n := cl.headExists(1); n != 0 {
				t.Errorf("%d create or clone calls answered File exists", n)
			}
			if now, _ := cl.c.ListReplicas(context.Background(), "vol1"); len(now) != 2 {
				t.Errorf("%d replicas after the restart, want the same 2", len(now))
			}
			if !strings.Contains(cl.nodes[1].logs(), "replica reconstructed for restart") {
				t.Error("the crashed replica was not reconstructed before its restart")
			}
		})
	}
}
