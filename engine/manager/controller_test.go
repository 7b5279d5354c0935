package manager

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// recorder is a NodeAgent test double for scheduling decisions only: it
// stores nothing, records every call, and reports engine replica modes the
// test sets. Real instance managers are exercised in integration_test.go.
type recorder struct {
	mu    sync.Mutex
	calls []string
	modes map[string]string // engine replica modes to report
	revs  map[string]uint64 // replica revisions to report
	// crashOnUpgrade makes a live upgrade kill the engine: the upgrade call
	// fails and the engine is gone until the next engine_create.
	crashOnUpgrade bool
	engineGone     bool
	// refuse makes replica_create answer with this error, by replica name
	// or, for every replica of a node, by "node:<name>"; "stop:<replica>"
	// refuses replica_delete without cleanup.
	refuse map[string]error
	// holdEngineCreate, when set, runs at the start of engine_create,
	// outside the lock: a test holds an attach there.
	holdEngineCreate func()
	// holdEngineDelete is holdEngineCreate for engine_delete.
	holdEngineDelete func()
	// restoreErr, when set, is the error every replica's restore status
	// reports.
	restoreErr string
}

func (r *recorder) Agent(ctx context.Context, n api.Node) (NodeAgent, error) {
	return &recordingAgent{r: r, node: n.Name}, nil
}

func (r *recorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) setMode(replica, mode string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.modes[replica] = mode
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c == s {
			n++
		}
	}
	return n
}

func (r *recorder) called(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.calls, s)
}

type recordingAgent struct {
	r    *recorder
	node string
}

func (a *recordingAgent) ReplicaCreate(ctx context.Context, req improto.ReplicaCreateRequest) (improto.ReplicaInfo, error) {
	a.r.record(fmt.Sprintf("%s replica_create %s", a.node, req.Name))
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	for _, k := range []string{req.Name, "node:" + a.node} {
		if err := a.r.refuse[k]; err != nil {
			return improto.ReplicaInfo{}, err
		}
	}
	return improto.ReplicaInfo{Name: req.Name, State: improto.StateRunning, Address: a.node + ":10809", Export: req.Name, Revision: a.r.revs[req.Name]}, nil
}
func (a *recordingAgent) ReplicaDelete(ctx context.Context, name string, cleanup bool) error {
	a.r.record(fmt.Sprintf("%s replica_delete %s cleanup=%v", a.node, name, cleanup))
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	if err := a.r.refuse["stop:"+name]; err != nil && !cleanup {
		return err
	}
	return nil
}
func (a *recordingAgent) ReplicaGet(ctx context.Context, name string) (improto.ReplicaInfo, error) {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	return improto.ReplicaInfo{Name: name, Revision: a.r.revs[name]}, nil
}
func (a *recordingAgent) ReplicaList(ctx context.Context) ([]improto.ReplicaInfo, error) {
	return nil, nil
}
func (a *recordingAgent) BackingImageList(ctx context.Context) ([]improto.BackingImageCopy, error) {
	return nil, nil
}
func (a *recordingAgent) BackingImageDelete(ctx context.Context, image string) error {
	a.r.record(fmt.Sprintf("%s backing_image_delete %s", a.node, image))
	return nil
}
func (a *recordingAgent) ReplicaBackupStart(ctx context.Context, req improto.ReplicaBackupRequest) (improto.BackupJobStatus, error) {
	a.r.record(fmt.Sprintf("%s replica_backup_start %s %s", a.node, req.Replica, req.Backup))
	return improto.BackupJobStatus{Backup: req.Backup, Replica: req.Replica, State: improto.JobInProgress}, nil
}
func (a *recordingAgent) ReplicaBackupStatus(ctx context.Context, backup string) (improto.BackupJobStatus, error) {
	return improto.BackupJobStatus{Backup: backup, State: improto.JobInProgress}, nil
}
func (a *recordingAgent) ReplicaRestoreStart(ctx context.Context, req improto.ReplicaRestoreRequest) (improto.RestoreStatus, error) {
	a.r.record(fmt.Sprintf("%s replica_restore_start %s %s", a.node, req.Replica, req.Backup))
	return improto.RestoreStatus{Replica: req.Replica, IsRestoring: true, Backup: req.Backup, State: improto.JobInProgress}, nil
}
func (a *recordingAgent) ReplicaRestoreStatus(ctx context.Context, replica string) (improto.RestoreStatus, error) {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	if a.r.restoreErr != "" {
		return improto.RestoreStatus{Replica: replica, State: improto.JobError, Error: a.r.restoreErr}, nil
	}
	return improto.RestoreStatus{Replica: replica}, nil
}
func (a *recordingAgent) EngineCreate(ctx context.Context, req improto.EngineCreateRequest) (improto.EngineInfo, error) {
	var names []string
	for _, m := range req.Replicas {
		names = append(names, m.Name)
	}
	a.r.record(fmt.Sprintf("%s engine_create %s salvage=%v replicas=%v", a.node, req.Name, req.Salvage, names))
	a.r.mu.Lock()
	hold := a.r.holdEngineCreate
	a.r.mu.Unlock()
	if hold != nil {
		hold()
	}
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	a.r.engineGone = false
	for _, m := range req.Replicas {
		a.r.modes[m.Name] = api.ModeRW
	}
	return improto.EngineInfo{Name: req.Name, State: improto.StateRunning, ReplicaModes: clone(a.r.modes)}, nil
}
func (a *recordingAgent) EngineDelete(ctx context.Context, name string) error {
	a.r.record(fmt.Sprintf("%s engine_delete %s", a.node, name))
	a.r.mu.Lock()
	hold := a.r.holdEngineDelete
	a.r.mu.Unlock()
	if hold != nil {
		hold()
	}
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	clear(a.r.modes)
	return nil
}
func (a *recordingAgent) EngineGet(ctx context.Context, name string) (improto.EngineInfo, error) {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	if a.r.engineGone {
		return improto.EngineInfo{}, fmt.Errorf("engine %s not found", name)
	}
	return improto.EngineInfo{Name: name, State: improto.StateRunning, ReplicaModes: clone(a.r.modes)}, nil
}
func (a *recordingAgent) EngineList(ctx context.Context) ([]improto.EngineInfo, error) {
	return nil, nil
}
func (a *recordingAgent) EngineSnapshot(ctx context.Context, engine, snapshot string) error {
	return nil
}
func (a *recordingAgent) EngineReplicaAdd(ctx context.Context, engine string, rep improto.EngineReplica) error {
	a.r.record(fmt.Sprintf("%s engine_replica_add %s", a.node, rep.Name))
	a.r.setMode(rep.Name, api.ModeWO)
	return nil
}
func (a *recordingAgent) EngineReplicaRemove(ctx context.Context, engine, replica string) error {
	a.r.record(fmt.Sprintf("%s engine_replica_remove %s", a.node, replica))
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	delete(a.r.modes, replica)
	return nil
}
func (a *recordingAgent) EngineUpgrade(ctx context.Context, engine, image string) error {
	a.r.record(fmt.Sprintf("%s engine_upgrade %s", a.node, engine))
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	if a.r.crashOnUpgrade {
		a.r.crashOnUpgrade, a.r.engineGone = false, true
		return fmt.Errorf("engine %s crashed during the upgrade", engine)
	}
	return nil
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// healthyVolume starts a manager over a call-recording agent and heartbeats
// from nodes (each with one 1 GiB disk), then creates the 2-replica volume
// "vol" and attaches it on the first node, returning once it is healthy.
func healthyVolume(t *testing.T, nodes ...string) (*recorder, *testManager, api.Volume) {
	t.Helper()
	return healthyVolumeWith(t, nil, nodes...)
}

// healthyVolumeWith is healthyVolume with the given defect switches on.
func healthyVolumeWith(t *testing.T, defects []string, nodes ...string) (*recorder, *testManager, api.Volume) {
	t.Helper()
	rec, tm := detachedVolumeWith(t, defects, nodes...)
	ctx := ctxT(t)
	if _, err := tm.c.AttachVolume(ctx, "vol", nodes[0]); err != nil {
		t.Fatal(err)
	}
	v, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.Robustness == api.RobustnessHealthy })
	if err != nil {
		t.Fatal(err)
	}
	return rec, tm, v
}

// A degraded attached volume whose failed replica cannot be restarted in
// place (its node refuses the start) gets exactly one replacement, on the
// one node without a replica, joined to the engine for rebuild; once it is
// RW the failed replica is deleted with its data.
func TestReplacementReplicaScheduling(t *testing.T) {
	rec, tm, v := healthyVolume(t, "n1", "n2", "n3")
	ctx := ctxT(t)
	if v.Status.State != api.VolumeAttached || v.Status.Endpoint != "nbd://127.0.0.1:10809/vol" {
		t.Fatalf("attached volume status %+v", v.Status)
	}
	reps, err := tm.c.ListReplicas(ctx, "vol")
	if err != nil || len(reps) != 2 {
		t.Fatalf("replicas %v, %v", reps, err)
	}
	used := map[string]bool{reps[0].Spec.Node: true, reps[1].Spec.Node: true}
	var free string
	for _, n := range []string{"n1", "n2", "n3"} {
		if !used[n] {
			free = n
		}
	}
	failed := reps[1]
	rec.mu.Lock()
	rec.refuse[failed.Name] = &jsonrpc.Error{Code: -17, Message: "File exists"}
	rec.mu.Unlock()
	rec.setMode(failed.Name, api.ModeERR)

	waitFor(t, "a replacement replica joined for rebuild", func() (bool, error) {
		now, err := tm.c.ListReplicas(ctx, "vol")
		for _, r := range now {
			if r.Spec.Node == free && r.Status.Mode == api.ModeWO {
				return rec.called(free+" replica_create "+r.Name) && rec.called("n1 engine_replica_add "+r.Name), err
			}
		}
		return false, err
	})
	if n := rec.count(failed.Spec.Node + " replica_create " + failed.Name); n != 2 {
		t.Errorf("failed replica started %d times, want 2 (attach, in-place restart); calls: %v", n, rec.snapshot())
	}
	v, err = tm.c.GetVolume(ctx, "vol")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status.Robustness != api.RobustnessDegraded || v.Status.LastDegradedAt.IsZero() {
		t.Fatalf("volume with a failed replica: %+v", v.Status)
	}
	f, err := tm.c.GetReplica(ctx, failed.Name)
	if err != nil || f.Status.FailedAt.IsZero() || f.Status.Mode != api.ModeERR {
		t.Fatalf("failed replica %+v, %v", f.Status, err)
	}
	reps, err = tm.c.ListReplicas(ctx, "vol")
	if err != nil || len(reps) != 3 {
		t.Fatalf("want exactly one replacement (3 replicas), got %d: %v", len(reps), err)
	}

	// The rebuild finishes: the replacement turns RW, the volume is healthy
	// and the failed replica is removed from the engine and its disk.
	for _, r := range reps {
		if r.Status.Mode == api.ModeWO {
			rec.setMode(r.Name, api.ModeRW)
		}
	}
	waitFor(t, "failed replica deleted", func() (bool, error) {
		_, err := tm.c.GetReplica(ctx, failed.Name)
		if api.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if !rec.called(failed.Spec.Node + " replica_delete " + failed.Name + " cleanup=true") {
		t.Errorf("failed replica not deleted with its data; calls: %v", rec.snapshot())
	}
	v, err = tm.c.GetVolume(ctx, "vol")
	if err != nil || v.Status.Robustness != api.RobustnessHealthy {
		t.Fatalf("volume after rebuild: %+v, %v", v.Status, err)
	}
}

// When every replica fails under a live engine, auto-salvage revives only
// the replica with the newest data and reattaches with salvage requested.
func TestAutoSalvageRevivesNewest(t *testing.T) {
	rec, tm, _ := healthyVolume(t, "n1", "n2")
	ctx := ctxT(t)
	reps, err := tm.c.ListReplicas(ctx, "vol")
	if err != nil || len(reps) != 2 {
		t.Fatalf("replicas %v, %v", reps, err)
	}
	fresh, stale := reps[0].Name, reps[1].Name
	rec.mu.Lock()
	rec.revs[fresh], rec.revs[stale] = 7, 4
	rec.modes[fresh], rec.modes[stale] = api.ModeERR, api.ModeERR
	rec.mu.Unlock()

	v, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool {
		return !v.Status.LastSalvagedAt.IsZero() && v.Status.State == api.VolumeAttached
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("n1 engine_create vol-e-0 salvage=true replicas=[%s]", fresh)
	if !rec.called(want) {
		t.Fatalf("no %q; calls: %v", want, rec.snapshot())
	}
	if v.Status.Robustness != api.RobustnessDegraded {
		t.Errorf("salvaged volume with one of two replicas: robustness %s, want degraded", v.Status.Robustness)
	}
	// The stale replica stays failed, is already dropped to make room for
	// a replacement, or is restarted in place (RestartedAt) to be rebuilt
	// from the fresh one, write-only: it is never revived as it was.
	s, err := tm.c.GetReplica(ctx, stale)
	if err == nil && s.Status.FailedAt.IsZero() && s.Status.RestartedAt.IsZero() {
		t.Errorf("stale replica was revived: %+v", s.Status)
	} else if err != nil && !api.IsNotFound(err) {
		t.Fatal(err)
	}
	for _, c := range rec.snapshot() {
		if strings.Contains(c, "engine_create") && strings.Contains(c, "salvage=true") && strings.Contains(c, stale) {
			t.Errorf("stale replica put into a salvaged engine: %s", c)
		}
	}
}

// An engine that dies in the middle of a live upgrade: the correct recovery
// reattaches from the same replicas (their data kept) and finishes the
// upgrade offline on the new image; with the defect switch on, cleanup
// deletes those replicas with their data and the volume comes back healthy
// on fresh ones.
func TestEngineCrashDuringLiveUpgrade(t *testing.T) {
	tests := []struct {
		name    string
		defects []string
		keep    bool
	}{
		{"replicas kept, upgrade finished offline", nil, true},
		{"defect discards the replicas", []string{DefectCleanupDiscardsReplicas}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tm, _ := healthyVolumeWith(t, tt.defects, "n1", "n2")
			ctx := ctxT(t)
			before, err := tm.c.ListReplicas(ctx, "vol")
			if err != nil || len(before) != 2 {
				t.Fatalf("replicas %v, %v", before, err)
			}
			bin := filepath.Join(t.TempDir(), "engine-b")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := tm.c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: "img-b", Version: "b", BinaryPath: bin}); err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			rec.crashOnUpgrade = true
			rec.mu.Unlock()
			if _, err := tm.c.UpgradeVolume(ctx, "vol", "img-b"); err != nil {
				t.Fatal(err)
			}
			v, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool {
				return v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy && v.Status.CurrentImage == "img-b"
			})
			if err != nil {
				t.Fatal(err)
			}
			if !rec.called("n1 engine_upgrade vol-e-0") {
				t.Fatalf("no live upgrade was attempted; calls: %v", rec.snapshot())
			}
			after, err := tm.c.ListReplicas(ctx, "vol")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range after {
				names = append(names, r.Name)
			}
			for _, r := range before {
				deleted := rec.called(r.Spec.Node + " replica_delete " + r.Name + " cleanup=true")
				if kept := slices.Contains(names, r.Name); kept != tt.keep || deleted == tt.keep {
					t.Errorf("replica %s: kept %v, deleted with its data %v; want kept %v (volume %+v, calls %v)", r.Name, kept, deleted, tt.keep, v.Status, rec.snapshot())
				}
			}
		})
	}
}
