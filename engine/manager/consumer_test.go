package manager

import (
	"net/http"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// detachedVolumeWith starts a manager over recorded nodes, with defects
// on, and a detached 2-replica volume "vol".
func detachedVolumeWith(t *testing.T, defects []string, nodes ...string) (*recorder, *testManager) {
	t.Helper()
	rec := &recorder{modes: map[string]string{}, revs: map[string]uint64{}, refuse: map[string]error{}}
	tm := startManager(t, t.TempDir(), Config{Agents: rec, MonitorInterval: 50 * time.Millisecond, Defects: defects})
	ctx := ctxT(t)
	for _, n := range nodes {
		startHeartbeats(t, tm.c, n, nodeRequest("127.0.0."+n[1:], disk("d1", 1<<30)), time.Second)
	}
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol", Size: 8 * api.MiB, NumberOfReplicas: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		t.Fatal(err)
	}
	return rec, tm
}

// waitConsumer polls a consumer until ok holds for it (or, with gone, until
// it no longer exists).
func waitConsumer(t *testing.T, tm *testManager, name string, ok func(api.Consumer, bool) bool) api.Consumer {
	t.Helper()
	ctx := ctxT(t)
	for {
		c, err := tm.c.GetConsumer(ctx, name)
		exists := err == nil
		if err != nil && !api.IsNotFound(err) {
			t.Fatal(err)
		}
		if ok(c, exists) {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s: condition not reached: %+v (exists %v)", name, c, exists)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func running(c api.Consumer, exists bool) bool {
	return exists && c.Status.State == api.ConsumerRunning
}

// A remount after an engine crash replaces the workload's consumer by a new
// one on the same node. When the old one passes through grace 0 the fixed
// cleanup leaves the volume attached for the new one; the defect's cleanup
// takes every ticket on the node and the volume detaches under it (seed
// 002, Longhorn #10751).
func TestRemountReplacesConsumer(t *testing.T) {
	tests := []struct {
		name     string
		defects  []string
		attached bool
	}{
		{"fixed cleanup keeps the replacement's attachment", nil, true},
		{"defect detaches the volume under the replacement", []string{DefectUpgradeCrashLosesAttachment}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tm := detachedVolumeWith(t, tt.defects, "n1", "n2")
			ctx := ctxT(t)
			_, err := tm.c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: "w-1", Volume: "vol", Node: "n1", Workload: "w",
				TerminationGracePeriod: api.Duration(300 * time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			a := waitConsumer(t, tm, "w-1", running)
			if a.Status.Endpoint == "" {
				t.Fatalf("running consumer without endpoint: %+v", a)
			}
			rec.mu.Lock()
			rec.engineGone = true // the engine crashed
			rec.mu.Unlock()
			b := waitConsumer(t, tm, "w-2", running)
			if b.Spec.Node != "n1" || b.Spec.Workload != "w" || b.Spec.Generation != 2 {
				t.Fatalf("replacement %+v", b)
			}
			waitConsumer(t, tm, "w-1", func(_ api.Consumer, exists bool) bool { return !exists })
			// The cleanup has run; whatever it did to the volume is
			// decided within a few monitor passes.
			deadline := time.Now().Add(time.Second)
			var v api.Volume
			for time.Now().Before(deadline) {
				if v, err = tm.c.GetVolume(ctx, "vol"); err != nil {
					t.Fatal(err)
				}
				if v.Spec.NodeID != "n1" {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			_, hasB := v.Spec.AttachmentTickets[api.ConsumerTicketID("w-2")]
			_, hasA := v.Spec.AttachmentTickets[api.ConsumerTicketID("w-1")]
			if got := v.Spec.NodeID == "n1" && hasB; got != tt.attached || hasA {
				t.Errorf("after w-1 went: volume on %q, tickets %v; want attached for w-2 = %v", v.Spec.NodeID, v.Spec.AttachmentTickets, tt.attached)
			}
		})
	}
}

// The fixed cleanup releases a force-deleted consumer's ticket when another
// consumer waits on another node, so the volume moves there.
func TestForceDeletedConsumerReleasesForPendingElsewhere(t *testing.T) {
	_, tm := detachedVolumeWith(t, nil, "n1", "n2")
	ctx := ctxT(t)
	if _, err := tm.c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: "x", Volume: "vol", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	waitConsumer(t, tm, "x", running)
	if _, err := tm.c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: "y", Volume: "vol", Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	y := waitConsumer(t, tm, "y", func(c api.Consumer, _ bool) bool { return c.Status.Message != "" })
	if y.Status.State != api.ConsumerPending {
		t.Fatalf("second consumer on another node: %+v, want pending (Multi-Attach)", y.Status)
	}
	if _, err := tm.c.DetachVolume(ctx, "vol"); !api.IsCode(err, http.StatusConflict) {
		t.Fatalf("detach of a volume in use by consumers: %v, want 409", err)
	}
	if _, err := tm.c.DeleteConsumer(ctx, "x", true); err != nil {
		t.Fatal(err)
	}
	y = waitConsumer(t, tm, "y", running)
	v, err := tm.c.GetVolume(ctx, "vol")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status.Node != "n2" {
		t.Errorf("volume serves on %q, want n2 for y", v.Status.Node)
	}
}

// A graceful deletion of the last consumer detaches the volume once the
// grace period is over, not before.
func TestConsumerDeletionDetachesAfterGrace(t *testing.T) {
	_, tm := detachedVolumeWith(t, nil, "n1", "n2")
	ctx := ctxT(t)
	if _, err := tm.c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: "x", Volume: "vol", Node: "n1",
		TerminationGracePeriod: api.Duration(400 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	waitConsumer(t, tm, "x", running)
	c, err := tm.c.DeleteConsumer(ctx, "x", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status.State != api.ConsumerTerminating {
		t.Fatalf("deleted consumer %+v", c.Status)
	}
	if v, err := tm.c.GetVolume(ctx, "vol"); err != nil || v.Spec.NodeID != "n1" {
		t.Fatalf("volume during the grace period: %+v, %v", v.Spec, err)
	}
	waitConsumer(t, tm, "x", func(_ api.Consumer, exists bool) bool { return !exists })
	v, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached })
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Spec.AttachmentTickets) != 0 {
		t.Errorf("tickets left: %v", v.Spec.AttachmentTickets)
	}
	if _, err := tm.c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: "bad_name", Volume: "vol", Node: "n1"}); !api.IsCode(err, http.StatusBadRequest) {
		t.Errorf("invalid consumer name: %v, want 400", err)
	}
}
