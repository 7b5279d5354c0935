package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// TestIntegrationDeleteAttachedVolumeNeedsForce: deleting a volume that is attached
// would cut its client off, so it is refused with 409 unless forced; the
// refused delete changes nothing and the volume keeps serving.
func TestIntegrationDeleteAttachedVolumeNeedsForce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a refengine node process")
	}
	tm := startManager(t, t.TempDir(), Config{NodeTimeout: 2 * time.Second, MonitorInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	startNode(t, "n1", "127.0.0.2", tm.url)
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol", Size: 8 * api.MiB, NumberOfReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.AttachVolume(ctx, "vol", "n1"); err != nil {
		t.Fatal(err)
	}
	v, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.State == api.VolumeAttached && v.Status.Endpoint != "" })
	if err != nil {
		t.Fatal(err)
	}
	dev := openEndpoint(t, v.Status.Endpoint)
	defer dev.Close()
	data := make([]byte, 64<<10)
	rand.Read(data)
	if _, err := dev.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}

	status, body := rawCall(t, "DELETE", tm.url+"/v1/volumes/vol", "")
	checkErrorBody(t, status, body, 409, `volume "vol" is attached (to node "n1" by the attach API)`)
	if !strings.Contains(string(body), "force=true") || !strings.Contains(string(body), "--force") {
		t.Fatalf("409 does not say how to force: %s", body)
	}
	status, body = rawCall(t, "DELETE", tm.url+"/v1/volumes/vol?force=maybe", "")
	checkErrorBody(t, status, body, 400, "force")
	if _, err := tm.c.DeleteVolume(ctx, "vol"); !api.IsCode(err, 409) {
		t.Fatalf("client delete of an attached volume: got %v, want 409", err)
	}
	if v, err := tm.c.GetVolume(ctx, "vol"); err != nil || v.Status.State != api.VolumeAttached || v.Spec.NodeID != "n1" {
		t.Fatalf("after the refused delete: %+v, %v", v, err)
	}
	// Still serving: a fresh write and read through the same connection.
	if _, err := dev.WriteAt(data, 1<<20); err != nil {
		t.Fatalf("write after the refused delete: %v", err)
	}
	got := make([]byte, len(data))
	if _, err := dev.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the refused delete: %v (equal %v)", err, bytes.Equal(got, data))
	}

	if _, err := tm.c.ForceDeleteVolume(ctx, "vol"); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Name == "" }); err != nil {
		t.Fatalf("volume not gone after the forced delete: %v", err)
	}
}

// TestDeleteVolumeHeldByConsumer: a consumer's ticket counts as attached,
// and the 409 names the consumer and its node; a detached volume and a
// volume already deleting are deleted without force.
func TestDeleteVolumeHeldByConsumer(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	for _, name := range []string{"held", "free"} {
		if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: api.MiB}); err != nil {
			t.Fatal(err)
		}
	}
	// The ticket a consumer's creation leaves, written directly: no node
	// runs here to attach the volume.
	err := tm.m.store.Update(func(tx *Tx) error {
		v, _, err := get[api.Volume](tx, api.KindVolume, "held")
		if err != nil {
			return err
		}
		addTicket(&v, api.AttachmentTicket{ID: api.ConsumerTicketID("pod1"), Type: api.TicketConsumer, Node: "n1", Consumer: "pod1"})
		return tx.Put(api.KindVolume, v.Name, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	status, body := rawCall(t, "DELETE", tm.url+"/v1/volumes/held", "")
	checkErrorBody(t, status, body, 409, `consumer "pod1" on node "n1"`)
	if v, err := tm.c.GetVolume(ctx, "held"); err != nil || v.Status.State == api.VolumeDeleting {
		t.Fatalf("after the refused delete: %+v, %v", v, err)
	}
	if _, err := tm.c.DeleteVolume(ctx, "free"); err != nil {
		t.Fatalf("delete of a volume nothing holds: %v", err)
	}
	if v, err := tm.c.ForceDeleteVolume(ctx, "held"); err != nil || v.Status.State != api.VolumeDeleting {
		t.Fatalf("forced delete: %+v, %v", v, err)
	}
	if _, err := tm.c.DeleteVolume(ctx, "held"); err != nil && !api.IsNotFound(err) {
		t.Fatalf("delete again of a deleting volume: %v", err)
	}
}

// TestForceDeleteDuringAttach: a forced delete that arrives while the
// engine is being created must not be lost when the attach finishes. The
// attach used to write attached over deleting, and the volume then
// detached and stayed, never deleted (found on kind: the source volume of
// a DR seed reattached after its node restarted as the spec deleted it).
func TestForceDeleteDuringAttach(t *testing.T) {
	rec, tm := detachedVolumeWith(t, nil, "n1", "n2")
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Second)
	defer cancel()
	held := newHold()
	rec.mu.Lock()
	rec.holdEngineCreate = held.hook
	rec.mu.Unlock()
	if _, err := tm.c.AttachVolume(ctx, "vol", "n1"); err != nil {
		t.Fatal(err)
	}
	held.forceDelete(t, ctx, tm, "vol", "its attach's engine create")
	engines, err := tm.c.ListEngines(ctx, "vol")
	if err != nil || len(engines) != 0 {
		t.Fatalf("engines left after the delete: %+v, %v", engines, err)
	}
	if !slices.ContainsFunc(rec.snapshot(), func(c string) bool { return strings.Contains(c, "engine_delete vol-e-0") }) {
		t.Errorf("the engine created during the delete was never deleted on its node: calls %v", rec.snapshot())
	}
}

// TestForceDeleteDuringFailedRestore: a forced delete that arrives while a
// restore volume is being faulted (every replica's restore failed, its
// engine is being stopped) must not be lost either. failRestoreVolume used
// to write detached over deleting, the same mistake as the attach's.
func TestForceDeleteDuringFailedRestore(t *testing.T) {
	dir := t.TempDir()
	names := seedBackups(t, dir, "src", 1)
	rec := &recorder{modes: map[string]string{}, revs: map[string]uint64{}, refuse: map[string]error{}}
	tm := startManager(t, t.TempDir(), Config{Agents: rec, MonitorInterval: 50 * time.Millisecond, BackupTargetURL: "file://" + dir})
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Second)
	defer cancel()
	for _, n := range []string{"n1", "n2"} {
		startHeartbeats(t, tm.c, n, nodeRequest("127.0.0."+n[1:], disk("d1", 1<<30)), time.Second)
	}
	waitFor(t, "backup known", func() (bool, error) {
		_, err := tm.c.GetBackup(ctx, names[0])
		return err == nil, nil
	})
	url := api.BackupURL("file://"+dir, "src", names[0])
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol", FromBackup: url, NumberOfReplicas: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.State == api.VolumeAttached }); err != nil {
		t.Fatalf("restore volume never attached: %v", err)
	}

	held := newHold()
	rec.mu.Lock()
	rec.holdEngineDelete = held.hook
	rec.restoreErr = "backup block corrupt"
	rec.mu.Unlock()
	held.forceDelete(t, ctx, tm, "vol", "its failed restore's engine stop")
}

// hold stops the first call of a recorder hook until it is released, so
// a test can act while a controller waits in that node call.
type hold struct {
	once             sync.Once
	entered, release chan struct{}
}

func newHold() *hold {
	return &hold{entered: make(chan struct{}), release: make(chan struct{})}
}

// hook is the recorder hook: the first call waits for the release.
func (h *hold) hook() {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
}

// forceDelete waits until the hook holds a call (during), force-deletes
// volume, releases the call and requires the volume to be gone.
func (h *hold) forceDelete(t *testing.T, ctx context.Context, tm *testManager, volume, during string) {
	t.Helper()
	select {
	case <-h.entered:
	case <-ctx.Done():
		t.Fatalf("never held in %s", during)
	}
	_, err := tm.c.ForceDeleteVolume(ctx, volume)
	close(h.release)
	if err != nil {
		t.Fatalf("forced delete during %s: %v", during, err)
	}
	last, err := tm.c.WaitVolume(ctx, volume, func(v api.Volume) bool { return v.Name == "" })
	if err != nil {
		t.Fatalf("volume not deleted after a forced delete during %s: state %s, node %q, restore failed %v (%v)",
			during, last.Status.State, last.Spec.NodeID, restoreFailed(last), err)
	}
}
