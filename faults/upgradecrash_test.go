package faults

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/timeline"
)

// armedKill is an UpgradeCrasher whose watch has killed the engine already.
type armedKill struct{ k cluster.EngineKill }

func (a armedKill) ArmUpgradeCrash(ctx context.Context, engine, node string, window time.Duration) (func() (cluster.EngineKill, error), error) {
	return func() (cluster.EngineKill, error) { return a.k, nil }, nil
}

// TestUpgradeCrashNamesItsExecutor: the kill the driver's watch did shows
// on the fault's window with its executor and time, as every other fault's.
func TestUpgradeCrashNamesItsExecutor(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	rec := timeline.NewRecorder()
	in := NewInjector(rec, 1, nil)
	f := EngineCrashDuringUpgrade(armedKill{cluster.EngineKill{PID: 42, InWindow: true, Executor: "exec", At: at}}, "e-0", "node-1", time.Minute)
	ctx := context.Background()
	if err := f.Arm(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.Inject(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := in.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	ev := rec.Events()
	if len(ev) != 1 || ev[0].Detail["executor"] != "exec" || ev[0].Detail["injected_at"] != "2026-11-30T23:00:00Z" {
		t.Fatalf("window %+v, want executor exec at the kill's time", ev)
	}
}
