package state

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// volumeState is what a scenario typically waits for.
type volumeState struct {
	State      string
	Robustness string
	Replicas   int
}

func TestWaitForConverges(t *testing.T) {
	var calls atomic.Int32
	source := func(context.Context) (volumeState, error) {
		switch n := calls.Add(1); {
		case n == 1:
			return volumeState{}, errors.New("manager restarting")
		case n < 4:
			return volumeState{State: "attaching", Robustness: "unknown", Replicas: 1}, nil
		default:
			return volumeState{State: "attached", Robustness: "healthy", Replicas: 2}, nil
		}
	}
	rec := timeline.NewRecorder()
	v := WaitFor(context.Background(), source, volumeState{"attached", "healthy", 2}, 30*time.Second,
		WithInterval(time.Millisecond), WithName("volume v1 attached"), WithRecorder(rec))
	if v.Outcome != checkers.Pass || v.Diff != "" {
		t.Fatalf("verdict %+v", v)
	}
	if calls.Load() < 4 {
		t.Fatalf("passed after %d polls, before the state was reached", calls.Load())
	}
	if ev := rec.Events(); len(ev) != 1 || ev[0].Kind != timeline.KindChecker || ev[0].Name != "pass" {
		t.Fatalf("events %+v", ev)
	}
}

func TestWaitForDeadlineMissed(t *testing.T) {
	source := func(context.Context) (volumeState, error) {
		return volumeState{State: "attached", Robustness: "degraded", Replicas: 1}, nil
	}
	v := WaitFor(context.Background(), source, volumeState{"attached", "healthy", 2}, 50*time.Millisecond, WithInterval(5*time.Millisecond))
	if v.Outcome != checkers.Fail {
		t.Fatalf("verdict %+v", v)
	}
	for _, want := range []string{`-`, `+`, `"healthy"`, `"degraded"`, "Replicas"} {
		if !strings.Contains(v.Diff, want) {
			t.Fatalf("diff does not contain %q:\n%s", want, v.Diff)
		}
	}
	if strings.Contains(v.Diff, `- 	State:`) {
		t.Fatalf("diff marks the equal field State:\n%s", v.Diff)
	}
	if len(v.Evidence) == 0 || !strings.Contains(v.Evidence[len(v.Evidence)-1].Actual, "degraded") {
		t.Fatalf("evidence %+v", v.Evidence)
	}
}

func TestWaitForUnknown(t *testing.T) {
	type hidden struct{ state string }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		run  func() checkers.Verdict
	}{
		{"source never answers", func() checkers.Verdict {
			return WaitFor(context.Background(), func(context.Context) (string, error) { return "", errors.New("connection refused") },
				"attached", 20*time.Millisecond, WithInterval(time.Millisecond))
		}},
		{"parent cancelled", func() checkers.Verdict {
			return WaitFor(cancelled, func(context.Context) (string, error) { return "detached", nil }, "attached", time.Minute)
		}},
		{"uncomparable", func() checkers.Verdict {
			return WaitFor(context.Background(), func(context.Context) (hidden, error) { return hidden{"a"}, nil }, hidden{"a"}, time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := tt.run(); v.Outcome != checkers.Unknown {
				t.Fatalf("verdict %+v, want unknown", v)
			}
		})
	}
	// With a cmp option the same type compares fine.
	v := WaitFor(context.Background(), func(context.Context) (hidden, error) { return hidden{"a"}, nil }, hidden{"a"}, time.Minute,
		WithCmpOptions(cmpopts.EquateComparable(hidden{})))
	if v.Outcome != checkers.Pass {
		t.Fatalf("with EquateComparable: %+v", v)
	}
}

// at returns a time s seconds after a fixed origin.
func at(s float64) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s * float64(time.Second)))
}

func series(kind Kind, name string, times []float64, states ...string) []Sample {
	var out []Sample
	for i, tm := range times {
		out = append(out, Sample{Time: at(tm), Kind: kind, Name: name, State: states[i%len(states)]})
	}
	return out
}

func TestCrashLoop(t *testing.T) {
	steady := series(KindVolume, "v1", []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "attached")
	lifecycle := series(KindVolume, "v2", []float64{0, 1, 2, 3}, "creating", "detached", "attaching", "attached")
	flapVolume := series(KindVolume, "v3", []float64{0, 1, 2, 3, 4, 5, 6}, "attached", "detaching")
	flapReplica := series(KindReplica, "v1-r-abcd1234", []float64{10, 10.5, 11, 11.5, 12}, "running", "error")
	slowFlaps := series(KindVolume, "v4", []float64{0, 20, 40, 60, 80, 100}, "attached", "detaching")

	tests := []struct {
		name     string
		samples  []Sample
		want     checkers.Outcome
		flapping string
		listed   int // transitions listed in evidence
	}{
		{"steady not flagged", steady, checkers.Pass, "", 0},
		{"normal lifecycle", append(append([]Sample{}, steady...), lifecycle...), checkers.Pass, "", 0},
		{"slow flaps stay under the window", slowFlaps, checkers.Pass, "", 0},
		{"volume attach/detach loop", append(append([]Sample{}, steady...), flapVolume...), checkers.Fail, "volume/v3", 6},
		{"replica running/error loop", append(append([]Sample{}, lifecycle...), flapReplica...), checkers.Fail, "replica/v1-r-abcd1234", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CrashLoop(tt.samples, 10*time.Second, 3)
			if v.Outcome != tt.want {
				t.Fatalf("verdict %s: %s", v.Outcome, v.Summary)
			}
			if tt.want != checkers.Fail {
				return
			}
			if v.Evidence[0].What != "flapping" || v.Evidence[0].Detail != tt.flapping {
				t.Fatalf("first evidence %+v, want %s flapping", v.Evidence[0], tt.flapping)
			}
			listed := 0
			for _, e := range v.Evidence[1:] {
				if e.What != "transition" || !strings.HasPrefix(e.Detail, tt.flapping+" at 2026-01-01T00:00:") || !strings.Contains(e.Detail, "→") {
					t.Fatalf("evidence %+v", e)
				}
				listed++
			}
			if listed != tt.listed {
				t.Fatalf("%d transitions listed, want %d", listed, tt.listed)
			}
		})
	}
}

func TestCrashLoopUnorderedSamples(t *testing.T) {
	s := series(KindEngine, "e1", []float64{0, 1, 2, 3, 4}, "running", "stopped")
	s[0], s[4] = s[4], s[0] // arrival order need not be time order
	if v := CrashLoop(s, time.Minute, 3); v.Outcome != checkers.Fail {
		t.Fatalf("verdict %+v", v)
	}
	if v := CrashLoop(s, time.Minute, 4); v.Outcome != checkers.Pass {
		t.Fatalf("4 transitions with 4 allowed: %+v", v)
	}
}

func TestTracker(t *testing.T) {
	rec := timeline.NewRecorder()
	tr := NewTracker(rec)
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				st := "attached"
				if i >= 10 {
					st = "detached"
				}
				tr.Add(Sample{Kind: KindVolume, Name: name, State: st, Robustness: "healthy"})
			}
		}()
	}
	wg.Wait()
	if n := len(tr.Samples()); n != 60 {
		t.Fatalf("%d samples, want 60", n)
	}
	states := 0
	for _, e := range rec.Events() {
		if e.Kind == timeline.KindState {
			states++
			if !strings.HasPrefix(e.Lane, "volume/") || e.Detail["robustness"] != "healthy" {
				t.Fatalf("event %+v", e)
			}
		}
	}
	if states != 6 {
		t.Fatalf("%d state events, want one per change (6)", states)
	}
	if s, ok := tr.Latest(KindVolume, "b"); !ok || s.State != "detached" {
		t.Fatalf("latest of b: %+v %v", s, ok)
	}
	if v := tr.CrashLoop(time.Minute, 1); v.Outcome != checkers.Pass {
		t.Fatalf("one transition each: %+v", v)
	}
}

func TestTrackerRunAndPoll(t *testing.T) {
	tr := NewTracker(nil)
	src := make(chan Sample, 3)
	src <- Sample{Kind: KindReplica, Name: "r1", State: "running"}
	src <- Sample{Kind: KindReplica, Name: "r1", State: "error"}
	close(src)
	if err := tr.Run(context.Background(), src); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(tr.Samples()); n != 2 {
		t.Fatalf("%d samples after Run", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var polls atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- tr.Poll(ctx, time.Millisecond, func(context.Context) ([]Sample, error) {
			if polls.Add(1) == 3 {
				cancel()
			}
			return []Sample{{Kind: KindEngine, Name: "e1", State: "running"}}, nil
		})
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll: %v", err)
	}
	if s, ok := tr.Latest(KindEngine, "e1"); !ok || s.State != "running" {
		t.Fatalf("latest engine %+v %v", s, ok)
	}
}
