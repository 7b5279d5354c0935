package faults

import (
	"bytes"
	"context"
	"math/rand"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/timeline"
)

// TestReplicaCrashRecovers crashes one replica of an attached 2-replica
// volume on a real local cluster: the manager must see it fail (the volume
// goes degraded), restart that same replica in place on its node (the
// replica is reused, not replaced) and make the volume healthy again with
// the data written before and during the outage, while the replica's node
// process (its instance manager) stays the same process.
func TestReplicaCrashRecovers(t *testing.T) {
	d, c := upLocal(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	waitNodesRegistered(ctx, t, c, 2)
	const size = 32 << 20
	v := attachedVolume(ctx, t, c, "rcrash", size, 2, "node-1")
	dev := dialVolume(ctx, t, v.Status.Endpoint)
	defer dev.Close()

	rng := rand.New(rand.NewSource(1))
	before := make([]byte, 4<<20)
	rng.Read(before)
	if _, err := dev.WriteAt(before, 0); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}

	victim := replicaOn(ctx, t, c, "rcrash", "node-2")
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := st.Node("node-2")

	if err := ReplicaCrash(d, c, "rcrash-r-nosuchre").Inject(ctx); !api.IsNotFound(err) {
		t.Errorf("crash of an unknown replica: %v, want not found", err)
	}
	rec := timeline.NewRecorder()
	in := NewInjector(rec, 1, nil)
	crash := ReplicaCrash(d, c, victim.Name)
	injected := time.Now()
	if err := in.Inject(ctx, crash); err != nil {
		t.Fatal(err)
	}
	if err := in.Heal(ctx, crash); err != nil {
		t.Fatal(err)
	}
	// The engine probes its replicas every second; the manager polls it.
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = c.WaitVolume(dctx, "rcrash", func(v api.Volume) bool { return v.Status.LastDegradedAt.After(injected) })
	dcancel()
	if err != nil {
		t.Fatalf("the manager never saw the replica fail: %v", err)
	}
	t.Logf("degraded %v after the crash", time.Since(injected).Round(time.Millisecond))

	// Written while one replica is gone: the rebuild has to bring it.
	during := make([]byte, 1<<20)
	rng.Read(during)
	if _, err := dev.WriteAt(during, 20<<20); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}

	waitFor(ctx, t, "volume healthy with two RW replicas, one of them the crashed one", func() (bool, string) {
		v, err := c.GetVolume(ctx, "rcrash")
		if err != nil || !healthy(v) {
			return false, v.Status.State + "/" + v.Status.Robustness
		}
		reps, err := c.ListReplicas(ctx, "rcrash")
		if err != nil {
			return false, err.Error()
		}
		rw, onNode2 := 0, false
		for _, r := range reps {
			if r.Status.Mode == api.ModeRW && r.Status.FailedAt.IsZero() && !r.Spec.Deleting {
				rw++
				onNode2 = onNode2 || r.Name == victim.Name
			}
		}
		return rw == 2 && len(reps) == 2 && onNode2, ""
	})
	t.Logf("healthy again %v after the crash", time.Since(injected).Round(time.Millisecond))
	if reps, err := c.ListReplicas(ctx, "rcrash"); err == nil {
		for _, r := range reps {
			t.Logf("replica %s on %s: %s %s (crashed %s)", r.Name, r.Spec.Node, r.Status.State, r.Status.Mode, victim.Name)
		}
	}

	st, err = d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := st.Node("node-2"); now.PID != im.PID || now.Restarts != im.Restarts || !now.Ready {
		t.Errorf("node-2 instance manager changed: before pid %d restarts %d, now %+v", im.PID, im.Restarts, now)
	}
	// Reads rotate over the replicas: read each range several times.
	for i := range 4 {
		for _, want := range []struct {
			off  int64
			data []byte
		}{{0, before}, {20 << 20, during}} {
			got := make([]byte, len(want.data))
			if _, err := dev.ReadAt(got, want.off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.data) {
				t.Fatalf("read %d at %d: data differs after recovery", i, want.off)
			}
		}
	}
	if ev := faultWindow(rec, "replica-crash"); ev.End.IsZero() || ev.Detail["replica"] != victim.Name {
		t.Errorf("replica-crash window: %+v", ev)
	}
}

// faultWindow returns the last fault window of that name on rec.
func faultWindow(rec *timeline.Recorder, name string) timeline.Event {
	var out timeline.Event
	for _, e := range rec.Events() {
		if e.Kind == timeline.KindFault && e.Name == name {
			out = e
		}
	}
	return out
}
