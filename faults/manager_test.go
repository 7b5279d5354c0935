package faults

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/timeline"
)

// TestManagerRestartMidOperation kills a real manager right after it
// accepted an attach (through the driver) and a detach (through the
// control socket): a new manager process answers on the same address with
// the volume it had, and finishes what the old one was doing.
func TestManagerRestartMidOperation(t *testing.T) {
	d, c := upLocal(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	waitNodesRegistered(ctx, t, c, 1)
	if _, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "mgr", Size: 16 << 20, NumberOfReplicas: 1, Frontend: api.FrontendNBD}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitVolume(ctx, "mgr", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		driver cluster.Driver
		op     func(ctx context.Context) error
		want   func(api.Volume) bool
	}{
		{"attach through the driver", d,
			func(ctx context.Context) error { _, err := c.AttachVolume(ctx, "mgr", "node-1"); return err },
			healthy},
		{"detach through the control socket", remoteOf(t, d),
			func(ctx context.Context) error { _, err := c.DetachVolume(ctx, "mgr"); return err },
			func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := managerProcess(ctx, t, tc.driver)
			rec := timeline.NewRecorder()
			in := NewInjector(rec, 1, nil)
			f := ManagerRestart(tc.driver)
			if err := tc.op(ctx); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := in.Inject(ctx, f); err != nil {
				t.Fatal(err)
			}
			if local.Alive(before.PID) {
				t.Fatalf("manager pid %d alive after Inject", before.PID)
			}
			if err := in.Heal(ctx, f); err != nil {
				t.Fatal(err)
			}
			t.Logf("manager answered again %v after the kill", time.Since(start).Round(time.Millisecond))
			if after := managerProcess(ctx, t, tc.driver); after.PID == before.PID || !after.Running || !after.Ready {
				t.Errorf("manager after restart: %+v (pid before %d)", after, before.PID)
			}
			wctx, wcancel := context.WithTimeout(ctx, time.Minute)
			defer wcancel()
			if v, err := c.WaitVolume(wctx, "mgr", tc.want); err != nil {
				t.Fatalf("the new manager did not finish the operation: %v (volume %+v)", err, v.Status)
			}
			if ev := faultWindow(rec, "manager-restart"); ev.End.IsZero() || ev.Detail["url"] != d.ManagerURL() {
				t.Errorf("manager-restart window: %+v", ev)
			}
		})
	}
	t.Run("unsupported driver", func(t *testing.T) {
		f := ManagerRestart(struct{ cluster.Driver }{d}) // hides KillManager
		if err := f.Inject(ctx); !errors.Is(err, ErrManagerRestartUnsupported) {
			t.Errorf("Inject = %v, want ErrManagerRestartUnsupported", err)
		}
		if err := f.Heal(ctx); err != nil {
			t.Errorf("Heal after a failed Inject: %v", err)
		}
	})
}

func managerProcess(ctx context.Context, t *testing.T, d cluster.Driver) cluster.ProcessStatus {
	t.Helper()
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Manager
}
