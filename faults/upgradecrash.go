package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faultline/faultline/cluster"
)

// ErrUpgradeCrashUnsupported is returned by UpgradeCrash's Arm when the
// cluster driver cannot watch an engine's processes.
var ErrUpgradeCrashUnsupported = errors.New("engine crash during upgrade: this cluster driver cannot watch an engine's processes")

// UpgradeCrasher crashes an engine inside its live upgrade's window: the
// new engine process has started and the old one still serves. Arm starts
// the watch on the engine's node and returns once it runs; wait blocks
// until the kill is done (the only process, after window, when no window
// was seen). The local cluster drivers and the kind driver implement it.
type UpgradeCrasher interface {
	ArmUpgradeCrash(ctx context.Context, engine, node string, window time.Duration) (wait func() (cluster.EngineKill, error), err error)
}

// UpgradeCrash is an engine crash timed by the upgrade's observed progress
// rather than by the clock. Arm it, request the live upgrade, then Inject:
// Inject returns once the watch killed the engine process serving the
// volume. Heal does nothing: recovery is the control plane's job.
type UpgradeCrash struct {
	c            UpgradeCrasher
	engine, node string
	window       time.Duration
	mu           sync.Mutex
	wait         func() (cluster.EngineKill, error)
	kill         cluster.EngineKill
	killed       bool
}

// EngineCrashDuringUpgrade returns the crash of engine on node inside its
// live upgrade's window, watched for at most window. d is usually the
// cluster driver; when it is not an UpgradeCrasher, Arm fails with
// ErrUpgradeCrashUnsupported.
func EngineCrashDuringUpgrade(d any, engine, node string, window time.Duration) *UpgradeCrash {
	c, _ := d.(UpgradeCrasher)
	return &UpgradeCrash{c: c, engine: engine, node: node, window: window}
}

func (f *UpgradeCrash) Name() string { return "engine-crash" }
func (f *UpgradeCrash) Params() map[string]string {
	return map[string]string{"engine": f.engine, "node": f.node, "at": "upgrade-window", "window": f.window.String()}
}

// Arm starts watching the engine's processes.
func (f *UpgradeCrash) Arm(ctx context.Context) error {
	if f.c == nil {
		return ErrUpgradeCrashUnsupported
	}
	wait, err := f.c.ArmUpgradeCrash(ctx, f.engine, f.node, f.window)
	if err != nil {
		return fmt.Errorf("arm engine crash %s during upgrade: %w", f.engine, err)
	}
	f.mu.Lock()
	f.wait = wait
	f.mu.Unlock()
	return nil
}

// Inject waits for the armed watch's kill.
func (f *UpgradeCrash) Inject(ctx context.Context) error {
	f.mu.Lock()
	wait := f.wait
	f.mu.Unlock()
	if wait == nil {
		return fmt.Errorf("engine crash %s during upgrade: not armed", f.engine)
	}
	type result struct {
		k   cluster.EngineKill
		err error
	}
	done := make(chan result, 1)
	go func() {
		k, err := wait()
		done <- result{k, err}
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("engine crash %s during upgrade: %w", f.engine, ctx.Err())
	case r := <-done:
		f.mu.Lock()
		defer f.mu.Unlock()
		f.kill, f.killed = r.k, r.err == nil
		if r.err != nil {
			return fmt.Errorf("engine crash %s during upgrade: %w", f.engine, r.err)
		}
		if r.k.Executor != "" {
			cluster.ReportExecution(ctx, cluster.Execution{Executor: r.k.Executor, Injected: []time.Time{r.k.At}})
		}
		return nil
	}
}

func (f *UpgradeCrash) Heal(ctx context.Context) error { return nil }

// Kill reports what the crash did; ok is false until Inject succeeded.
func (f *UpgradeCrash) Kill() (k cluster.EngineKill, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kill, f.killed
}
