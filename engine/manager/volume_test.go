package manager

import (
	"regexp"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/google/go-cmp/cmp"
)

var replicaNameRE = regexp.MustCompile(`^[a-z0-9-]+-r-[a-z0-9]{8}$`)

func TestVolumeCRUD(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	created, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol1", Size: 16 * api.MiB})
	if err != nil {
		t.Fatal(err)
	}
	wantSpec := api.VolumeSpec{Size: 16 * api.MiB, NumberOfReplicas: 3, Frontend: api.FrontendNBD, BackupTargetName: api.DefaultBackupTarget}
	if diff := cmp.Diff(wantSpec, created.Spec); diff != "" {
		t.Errorf("defaults not applied (-want +got):\n%s", diff)
	}
	if created.Status.State != api.VolumeCreating || created.Status.Robustness != api.RobustnessUnknown {
		t.Errorf("new volume status %+v, want creating/unknown", created.Status)
	}
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol1", Size: api.MiB}); !api.IsCode(err, 409) {
		t.Errorf("duplicate create: got %v, want 409", err)
	}
	got, err := tm.c.GetVolume(ctx, "vol1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created.Spec, got.Spec); diff != "" {
		t.Errorf("GET spec differs (-created +got):\n%s", diff)
	}
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol2", Size: api.MiB, NumberOfReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	vols, err := tm.c.ListVolumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 2 || vols[0].Name != "vol1" || vols[1].Name != "vol2" {
		t.Fatalf("list = %v, want vol1, vol2", vols)
	}
	// No node is up, so nothing can be scheduled: the volume stays creating
	// with a Scheduled=false condition saying why.
	v, err := tm.c.WaitVolume(ctx, "vol1", func(v api.Volume) bool { return len(v.Status.Conditions) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Status.Conditions[0]; c.Type != api.ConditionScheduled || c.Status || c.Message == "" {
		t.Errorf("condition %+v, want Scheduled=false with a message", c)
	}
	if _, err := tm.c.AttachVolume(ctx, "vol1", "n1"); !api.IsCode(err, 400) {
		t.Errorf("attach to unknown node: got %v, want 400", err)
	}
	if _, err := tm.c.DeleteVolume(ctx, "vol1"); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol1", func(v api.Volume) bool { return v.Name == "" }); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.GetVolume(ctx, "vol1"); !api.IsNotFound(err) {
		t.Errorf("deleted volume: got %v, want 404", err)
	}
}

func TestSchedulingOneReplicaPerNode(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{NodeTimeout: 5 * time.Second})
	ctx := ctxT(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		startHeartbeats(t, tm.c, n, nodeRequest("127.0.0."+n[1:], disk("d1", 1<<30), disk("d2", 2<<30)), 500*time.Millisecond)
	}
	// n4 has a disk without an lvstore and a disk that is too small.
	small := disk("tiny", api.MiB)
	startHeartbeats(t, tm.c, "n4", nodeRequest("127.0.0.4", api.Disk{Name: "raw", TotalBytes: 1 << 30, FreeBytes: 1 << 30}, small), 500*time.Millisecond)

	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "three", Size: 64 * api.MiB, NumberOfReplicas: 3}); err != nil {
		t.Fatal(err)
	}
	v, err := tm.c.WaitVolume(ctx, "three", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached })
	if err != nil {
		t.Fatal(err)
	}
	if v.Status.Robustness != api.RobustnessUnknown {
		t.Errorf("detached volume robustness %q, want unknown", v.Status.Robustness)
	}
	reps, err := tm.c.ListReplicas(ctx, "three")
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 3 {
		t.Fatalf("%d replicas scheduled, want 3: %+v", len(reps), reps)
	}
	nodes := map[string]bool{}
	for _, r := range reps {
		if !replicaNameRE.MatchString(r.Name) {
			t.Errorf("replica name %q does not match <volume>-r-<8 alnum>", r.Name)
		}
		if nodes[r.Spec.Node] {
			t.Errorf("two replicas on node %s", r.Spec.Node)
		}
		nodes[r.Spec.Node] = true
		if r.Spec.Node == "n4" {
			t.Errorf("replica %s scheduled on n4, which has no usable disk", r.Name)
		}
		if r.Spec.Disk != "d2" {
			t.Errorf("replica %s on disk %s, want d2 (the one with most room)", r.Name, r.Spec.Disk)
		}
		if r.Spec.Size != 64*api.MiB || r.Spec.Volume != "three" {
			t.Errorf("replica spec %+v", r.Spec)
		}
	}

	// Five replicas wanted, three possible: three placed, the shortfall said.
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "five", Size: 4 * api.MiB, NumberOfReplicas: 5}); err != nil {
		t.Fatal(err)
	}
	v, err = tm.c.WaitVolume(ctx, "five", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached })
	if err != nil {
		t.Fatal(err)
	}
	reps, err = tm.c.ListReplicas(ctx, "five")
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 3 {
		t.Errorf("%d replicas for a 5-replica volume on 3 usable nodes, want 3", len(reps))
	}
	if len(v.Status.Conditions) == 0 || v.Status.Conditions[0].Status {
		t.Errorf("conditions %+v, want Scheduled=false", v.Status.Conditions)
	}
}

func TestNodeHeartbeatLiveness(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{NodeTimeout: 400 * time.Millisecond})
	ctx := ctxT(t)
	hb := startHeartbeats(t, tm.c, "n1", nodeRequest("127.0.0.2", disk("d1", 1<<30)), 50*time.Millisecond)
	n, err := tm.c.GetNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Status.State != api.NodeUp || n.Spec.NBDAddress != "127.0.0.2:10809" || len(n.Status.Disks) != 1 || n.Status.LastHeartbeat.IsZero() {
		t.Fatalf("registered node %+v", n)
	}
	// While heartbeats flow the node stays up.
	waitFor(t, "several heartbeat periods", func() (bool, error) {
		return time.Since(n.Status.LastHeartbeat) > 3*tm.cfg.NodeTimeout, nil
	})
	if n, err := tm.c.GetNode(ctx, "n1"); err != nil || n.Status.State != api.NodeUp {
		t.Fatalf("node with steady heartbeats: %+v, %v; want up", n.Status, err)
	}
	hb.Stop()
	waitFor(t, "node down after missed heartbeats", func() (bool, error) {
		n, err := tm.c.GetNode(ctx, "n1")
		return n.Status.State == api.NodeDown, err
	})
	if _, err := tm.c.Heartbeat(ctx, "n1", nodeRequest("127.0.0.2", disk("d1", 1<<30))); err != nil {
		t.Fatal(err)
	}
	if n, err := tm.c.GetNode(ctx, "n1"); err != nil || n.Status.State != api.NodeUp {
		t.Fatalf("node after a new heartbeat: %+v, %v; want up", n.Status, err)
	}
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	tm := startManager(t, dir, Config{})
	ctx := ctxT(t)
	startHeartbeats(t, tm.c, "n1", nodeRequest("127.0.0.2", disk("d1", 1<<30)), time.Second).Stop()
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "keep", Size: 8 * api.MiB, NumberOfReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	before, err := tm.c.WaitVolume(ctx, "keep", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached })
	if err != nil {
		t.Fatal(err)
	}
	repsBefore, err := tm.c.ListReplicas(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	nodesBefore, err := tm.c.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tm.stop()

	tm2 := startManager(t, dir, Config{})
	after, err := tm2.c.GetVolume(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("volume changed across restart (-before +after):\n%s", diff)
	}
	repsAfter, err := tm2.c.ListReplicas(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(repsBefore, repsAfter); diff != "" {
		t.Errorf("replicas changed across restart (-before +after):\n%s", diff)
	}
	nodesAfter, err := tm2.c.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nodesBefore, nodesAfter); diff != "" {
		t.Errorf("nodes changed across restart (-before +after):\n%s", diff)
	}
}
