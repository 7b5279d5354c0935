package faults

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/internal/testtool"
	"github.com/faultline/faultline/timeline"
)

// TestRealFaultsHealAfterFailure injects a node stop and an instance-manager
// deletion on a real local cluster, fails, and checks that cleanup brought
// both nodes back.
func TestRealFaultsHealAfterFailure(t *testing.T) {
	ref := testtool.Refengine(t)
	if _, err := local.Probe(t.Context(), ref); errors.Is(err, local.ErrNoManager) || errors.Is(err, local.ErrNoNode) {
		t.Skipf("refengine cannot run a cluster yet: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	rec := timeline.NewRecorder()
	d, err := local.New(local.Config{Dir: t.TempDir(), Refengine: ref, Nodes: 2, DiskSize: 64 << 20,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Timeline: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := d.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Down(context.Background()) })
	before, _ := d.Status(ctx)

	in := NewInjector(rec, 7, nil)
	err = scenario(in, NodeStop(d, "node-1"), InstanceManagerDelete(d, "node-2"))
	if err == nil || err.Error() != "assertion failed: digest differs" {
		t.Fatalf("scenario: %v", err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range st.Nodes {
		if !n.Running || !n.Ready || n.Stopped {
			t.Errorf("%s not back after HealAll: %+v", n.Name, n)
		}
		if n.PID == before.Nodes[i].PID {
			t.Errorf("%s has its old pid %d: the fault did not happen", n.Name, n.PID)
		}
	}
	faults := map[string]timeline.Event{}
	for _, e := range rec.Events() {
		if e.Kind == timeline.KindFault {
			faults[e.Name] = e
		}
	}
	for _, name := range []string{"node-stop", "instance-manager-delete"} {
		if e, ok := faults[name]; !ok || e.End.IsZero() {
			t.Errorf("no closed window for %s: %+v", name, faults)
		}
	}
	if faults["node-stop"].Detail["node"] != "node-1" {
		t.Errorf("node-stop window params: %+v", faults["node-stop"].Detail)
	}
	for _, name := range []string{"node-stop", "instance-manager-delete"} {
		if ex := faults[name].Detail["executor"]; ex != "supervisor" {
			t.Errorf("%s executed by %q, want the local supervisor", name, ex)
		}
	}
	if err := cluster.WaitNodeReady(ctx, d, "node-9"); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("WaitNodeReady(node-9) = %v", err)
	}
}
