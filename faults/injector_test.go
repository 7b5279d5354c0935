package faults

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/timeline"
)

// switchFault is a fault over a flag: Inject sets it, Heal clears it. It
// stands in for the real faults (which need a cluster) to test the
// injector's bookkeeping.
type switchFault struct {
	name      string
	mu        sync.Mutex
	on        bool
	injectErr error
	healErr   error
}

func (f *switchFault) Name() string              { return f.name }
func (f *switchFault) Params() map[string]string { return map[string]string{"target": f.name} }
func (f *switchFault) Inject(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on = true
	return f.injectErr
}
func (f *switchFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healErr != nil {
		return f.healErr
	}
	f.on = false
	return nil
}
func (f *switchFault) isOn() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.on }

// scenario injects the faults and then fails, the way a spec that fails an
// assertion half-way would; the deferred HealAll is the DeferCleanup.
func scenario(in *Injector, faults ...Fault) (err error) {
	ctx := context.Background()
	defer func() {
		if herr := in.HealAll(ctx); herr != nil {
			err = errors.Join(err, herr)
		}
	}()
	for _, f := range faults {
		if err := in.Inject(ctx, f); err != nil {
			return err
		}
	}
	return errors.New("assertion failed: digest differs")
}

func TestHealAllAfterFailure(t *testing.T) {
	rec := timeline.NewRecorder()
	in := NewInjector(rec, 1, nil)
	a, b := &switchFault{name: "node-stop"}, &switchFault{name: "instance-manager-delete"}
	err := scenario(in, a, b)
	if err == nil || err.Error() != "assertion failed: digest differs" {
		t.Fatalf("scenario error = %v", err)
	}
	if a.isOn() || b.isOn() {
		t.Fatalf("faults still injected after cleanup: a=%v b=%v", a.isOn(), b.isOn())
	}
	if act := in.Active(); len(act) != 0 {
		t.Fatalf("active after HealAll: %v", act)
	}
	var windows []timeline.Event
	for _, e := range rec.Events() {
		if e.Kind == timeline.KindFault {
			windows = append(windows, e)
		}
	}
	if len(windows) != 2 {
		t.Fatalf("want 2 fault windows, got %+v", windows)
	}
	for _, w := range windows {
		if w.End.IsZero() || w.End.Before(w.Time) || w.Detail["target"] != w.Name {
			t.Errorf("bad window %+v", w)
		}
	}
	for _, h := range in.History() {
		if h.Healed.IsZero() {
			t.Errorf("history entry not healed: %+v", h)
		}
	}
}

func TestFailedInjectIsStillHealed(t *testing.T) {
	in := NewInjector(timeline.NewRecorder(), 1, nil)
	f := &switchFault{name: "half", injectErr: errors.New("connection reset")}
	err := scenario(in, f, &switchFault{name: "never"})
	if err == nil || !errors.Is(err, f.injectErr) {
		t.Fatalf("scenario error = %v, want the inject error", err)
	}
	if f.isOn() {
		t.Fatal("half-injected fault not healed")
	}
	if h := in.History(); len(h) != 1 || h[0].Error == "" {
		t.Fatalf("history = %+v, want one entry with the inject error", h)
	}
}

func TestHealErrorKeepsFaultOpen(t *testing.T) {
	rec := timeline.NewRecorder()
	in := NewInjector(rec, 1, nil)
	stuck := &switchFault{name: "stuck", healErr: errors.New("node never came back")}
	ok := &switchFault{name: "ok"}
	err := scenario(in, ok, stuck)
	if !errors.Is(err, stuck.healErr) {
		t.Fatalf("scenario error = %v, want the heal error joined", err)
	}
	if ok.isOn() {
		t.Error("the healable fault was not healed because another failed")
	}
	if act := in.Active(); len(act) != 1 || act[0] != "stuck" {
		t.Fatalf("active = %v, want [stuck]", act)
	}
	for _, e := range rec.Events() {
		if e.Name == "stuck" {
			t.Errorf("window of an unhealed fault was closed: %+v", e)
		}
	}
	if err := in.Heal(context.Background(), ok); err == nil {
		t.Error("healing an inactive fault succeeded")
	}
}

func TestJitterIsSeeded(t *testing.T) {
	draw := func(seed int64) []time.Duration {
		in := NewInjector(timeline.NewRecorder(), seed, nil)
		var out []time.Duration
		for range 20 {
			d := in.Jitter(100*time.Millisecond, 300*time.Millisecond)
			if d < 100*time.Millisecond || d >= 300*time.Millisecond {
				t.Fatalf("jitter %v outside [100ms,300ms)", d)
			}
			out = append(out, d)
		}
		return out
	}
	a, b, c := draw(42), draw(42), draw(43)
	same := func(x, y []time.Duration) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("same seed gave different jitter")
	}
	if same(a, c) {
		t.Error("different seeds gave the same jitter")
	}
	if in := NewInjector(timeline.NewRecorder(), 1, nil); in.Jitter(time.Second, time.Second) != time.Second {
		t.Error("empty range should return lo")
	}
}

func TestEngineCrashWithoutAPI(t *testing.T) {
	in := NewInjector(timeline.NewRecorder(), 1, nil)
	err := in.Inject(context.Background(), EngineCrash(struct{}{}, "vol-e-0"))
	if !errors.Is(err, ErrEngineCrashUnsupported) {
		t.Fatalf("EngineCrash(nil) inject = %v", err)
	}
	if err := in.HealAll(context.Background()); err != nil {
		t.Fatalf("heal: %v", err)
	}
}

// tracedFault reports an execution the way a cluster driver does.
type tracedFault struct{ switchFault }

func (f *tracedFault) Inject(ctx context.Context) error {
	cluster.ReportExecution(ctx, cluster.Execution{Executor: "chaos-mesh", Object: "PodChaos/refengine-system/f-1",
		Action: "pod-kill", Injected: []time.Time{time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)}})
	return f.switchFault.Inject(ctx)
}

// TestExecutionOnTimeline: what the driver reports carrying out shows on
// the fault's timeline window and in its record; a fault no driver
// reported on carries no executor.
func TestExecutionOnTimeline(t *testing.T) {
	rec := timeline.NewRecorder()
	in := NewInjector(rec, 1, nil)
	ctx := context.Background()
	traced, plain := &tracedFault{switchFault{name: "traced"}}, &switchFault{name: "plain"}
	for _, f := range []Fault{traced, plain} {
		if err := in.Inject(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, e := range rec.Events() {
		got[e.Name] = e.Detail
	}
	want := map[string]string{"executor": "chaos-mesh", "chaos_object": "PodChaos/refengine-system/f-1",
		"chaos_action": "pod-kill", "injected_at": "2026-11-30T22:00:00Z"}
	for k, v := range want {
		if got["traced"][k] != v {
			t.Errorf("traced window %s = %q, want %q", k, got["traced"][k], v)
		}
	}
	if _, ok := got["plain"]["executor"]; ok {
		t.Errorf("plain window has an executor: %v", got["plain"])
	}
	h := in.History()
	if len(h[0].Executions) != 1 || h[0].Executions[0].Executor != "chaos-mesh" || len(h[1].Executions) != 0 {
		t.Errorf("history executions %+v / %+v", h[0].Executions, h[1].Executions)
	}
}
