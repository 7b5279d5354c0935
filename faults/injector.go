package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/timeline"
)

// Injector injects faults, records each as a timeline window from Inject to
// Heal, and remembers the ones not yet healed so HealAll can heal them in
// cleanup. Its jitter comes from a PRNG seeded by the run seed, so a seed
// reproduces the fault schedule.
type Injector struct {
	rec *timeline.Recorder
	log *slog.Logger

	mu      sync.Mutex
	rng     *rand.Rand
	active  []*active
	history []Record
}

type active struct {
	f      Fault
	hist   int // index in history
	detail map[string]string
	end    func()
}

// HealReporter is a fault that learns something only when healed (how
// often an injected error fired); the injector adds it to the fault's
// timeline window.
type HealReporter interface {
	HealDetail() map[string]string
}

// Record is one fault as the injector saw it.
type Record struct {
	Name     string            `json:"name"`
	Params   map[string]string `json:"params,omitempty"`
	Injected time.Time         `json:"injected"`
	Healed   time.Time         `json:"healed,omitzero"`
	Error    string            `json:"error,omitempty"`
	// Executions are what the cluster driver reported carrying out
	// (cluster.ReportExecution): the executor and any Chaos Mesh object.
	Executions []cluster.Execution `json:"executions,omitempty"`
}

// NewInjector returns an injector recording on rec (required) with jitter
// drawn from a PRNG seeded with seed.
func NewInjector(rec *timeline.Recorder, seed int64, log *slog.Logger) *Injector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Injector{rec: rec, log: log, rng: rand.New(rand.NewSource(seed))}
}

// Inject injects f and opens its timeline window. A fault whose Inject
// fails is still kept for healing: it may have half-happened.
func (in *Injector) Inject(ctx context.Context, f Fault) error {
	detail := maps.Clone(f.Params())
	if detail == nil {
		detail = map[string]string{}
	}
	end := in.rec.Begin(timeline.KindFault, f.Name(), f.Name(), detail)
	a := &active{f: f, detail: detail, end: end}
	in.mu.Lock()
	a.hist = len(in.history)
	in.active = append(in.active, a)
	in.history = append(in.history, Record{Name: f.Name(), Params: f.Params(), Injected: time.Now()})
	in.mu.Unlock()
	in.log.Info("inject fault", "fault", f.Name(), "params", f.Params())
	ctx = cluster.WithFaultTrace(ctx, &cluster.FaultTrace{Executed: func(e cluster.Execution) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.history[a.hist].Executions = append(in.history[a.hist].Executions, e)
		maps.Copy(detail, executionDetail(e))
	}})
	if err := f.Inject(ctx); err != nil {
		in.mu.Lock()
		detail["inject_error"] = err.Error()
		in.history[a.hist].Error = err.Error()
		in.mu.Unlock()
		return fmt.Errorf("inject %s %v: %w", f.Name(), f.Params(), err)
	}
	return nil
}

// Heal heals f, closes its window and forgets it. Healing a fault that is
// not active is an error.
func (in *Injector) Heal(ctx context.Context, f Fault) error {
	in.mu.Lock()
	i := in.find(f)
	if i < 0 {
		in.mu.Unlock()
		return fmt.Errorf("heal %s: fault is not active", f.Name())
	}
	a := in.active[i]
	in.mu.Unlock()
	return in.heal(ctx, a)
}

func (in *Injector) heal(ctx context.Context, a *active) error {
	in.log.Info("heal fault", "fault", a.f.Name(), "params", a.f.Params())
	err := a.f.Heal(ctx)
	in.mu.Lock()
	defer in.mu.Unlock()
	if err != nil {
		a.detail["heal_error"] = err.Error()
		in.history[a.hist].Error = err.Error()
		return fmt.Errorf("heal %s %v: %w", a.f.Name(), a.f.Params(), err)
	}
	if r, ok := a.f.(HealReporter); ok {
		maps.Copy(a.detail, r.HealDetail())
	}
	if i := in.find(a.f); i >= 0 {
		in.active = append(in.active[:i], in.active[i+1:]...)
	}
	in.history[a.hist].Healed = time.Now()
	a.end()
	return nil
}

// HealAll heals every active fault, newest first, and returns every error.
// A fault that fails to heal stays active and its window stays open, so the
// report shows it unhealed.
func (in *Injector) HealAll(ctx context.Context) error {
	in.mu.Lock()
	todo := append([]*active(nil), in.active...)
	in.mu.Unlock()
	var errs []error
	for i := len(todo) - 1; i >= 0; i-- {
		if err := in.heal(ctx, todo[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Active returns the names of the faults not yet healed.
func (in *Injector) Active() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, a := range in.active {
		out = append(out, a.f.Name())
	}
	return out
}

// History returns every fault injected so far.
func (in *Injector) History() []Record {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Record(nil), in.history...)
}

// Jitter returns a duration drawn uniformly from [lo, hi).
func (in *Injector) Jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return lo + time.Duration(in.rng.Int63n(int64(hi-lo)))
}

// Intn returns a number in [0, n) from the seeded PRNG (to pick a victim).
func (in *Injector) Intn(n int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rng.Intn(n)
}

// Wait sleeps a jittered duration from [lo, hi), or less if ctx ends.
func (in *Injector) Wait(ctx context.Context, lo, hi time.Duration) error {
	t := time.NewTimer(in.Jitter(lo, hi))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (in *Injector) find(f Fault) int {
	for i, a := range in.active {
		if a.f == f {
			return i
		}
	}
	return -1
}

// executionDetail is how an execution shows on the fault's timeline window.
func executionDetail(e cluster.Execution) map[string]string {
	d := map[string]string{"executor": e.Executor}
	if e.Object != "" {
		d["chaos_object"] = e.Object
	}
	if e.Action != "" {
		d["chaos_action"] = e.Action
	}
	if len(e.Injected) > 0 {
		ts := make([]string, len(e.Injected))
		for i, t := range e.Injected {
			ts[i] = t.UTC().Format(time.RFC3339Nano)
		}
		d["injected_at"] = strings.Join(ts, ",")
	}
	return d
}
