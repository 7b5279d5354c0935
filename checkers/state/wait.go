package state

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// DefaultInterval is how often WaitFor polls unless told otherwise.
const DefaultInterval = 200 * time.Millisecond

// Option adjusts WaitFor.
type Option func(*waitConfig)

type waitConfig struct {
	name     string
	interval time.Duration
	rec      *timeline.Recorder
	cmpOpts  []cmp.Option
}

// WithName names what is awaited in the verdict ("volume v1 attached").
func WithName(name string) Option { return func(c *waitConfig) { c.name = name } }

// WithInterval sets the polling interval.
func WithInterval(d time.Duration) Option { return func(c *waitConfig) { c.interval = d } }

// WithRecorder records the verdict on the timeline.
func WithRecorder(rec *timeline.Recorder) Option { return func(c *waitConfig) { c.rec = rec } }

// WithCmpOptions passes go-cmp options (cmpopts.IgnoreFields, ...) to the
// comparison and the diff.
func WithCmpOptions(opts ...cmp.Option) Option {
	return func(c *waitConfig) { c.cmpOpts = append(c.cmpOpts, opts...) }
}

// WaitFor polls source, at once and then on every tick, until what it
// returns equals expected (go-cmp equality) or deadline passes. It passes
// when the state is reached; it fails at the deadline with a go-cmp diff of
// expected (-) vs the last actual (+); it is Unknown when source never
// answered, when the comparison itself is impossible (unexported fields
// without an option), or when ctx ends before the deadline. Source errors
// do not stop the wait: a manager restarting is expected mid-scenario.
func WaitFor[T any](ctx context.Context, source func(context.Context) (T, error), expected T, deadline time.Duration, opts ...Option) checkers.Verdict {
	cfg := waitConfig{name: "expected state", interval: DefaultInterval}
	for _, o := range opts {
		o(&cfg)
	}
	v := wait(ctx, source, expected, deadline, cfg)
	v.Checker = "state-converge"
	return checkers.Record(cfg.rec, v)
}

func wait[T any](ctx context.Context, source func(context.Context) (T, error), expected T, deadline time.Duration, cfg waitConfig) checkers.Verdict {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	ticker := time.NewTicker(cfg.interval)
	defer ticker.Stop()

	var (
		last    T
		have    bool
		lastErr error
		polls   int
	)
	for {
		polls++
		actual, err := source(dctx)
		if err != nil {
			lastErr = err
		} else {
			last, have = actual, true
			equal, cerr := safeEqual(expected, actual, cfg.cmpOpts)
			if cerr != nil {
				return checkers.Verdict{Outcome: checkers.Unknown,
					Summary: fmt.Sprintf("cannot compare %s: %v", cfg.name, cerr)}
			}
			if equal {
				return checkers.Verdict{Outcome: checkers.Pass,
					Summary: fmt.Sprintf("%s reached after %v (%d polls)", cfg.name, time.Since(start).Round(time.Millisecond), polls)}
			}
		}
		select {
		case <-dctx.Done():
			return timedOut(ctx, cfg, deadline, polls, expected, last, have, lastErr)
		case <-ticker.C:
		}
	}
}

// timedOut builds the verdict for a wait that ended without a match.
func timedOut[T any](ctx context.Context, cfg waitConfig, deadline time.Duration, polls int, expected, last T, have bool, lastErr error) checkers.Verdict {
	var ev []checkers.Evidence
	if lastErr != nil {
		ev = append(ev, checkers.Evidence{What: "last source error", Detail: lastErr.Error()})
	}
	if ctx.Err() != nil {
		return checkers.Verdict{Outcome: checkers.Unknown, Evidence: ev,
			Summary: fmt.Sprintf("wait for %s cancelled after %d polls: %v", cfg.name, polls, ctx.Err())}
	}
	if !have {
		return checkers.Verdict{Outcome: checkers.Unknown, Evidence: ev,
			Summary: fmt.Sprintf("%s: no state observed within %v (%d polls)", cfg.name, deadline, polls)}
	}
	diff, err := safeDiff(expected, last, cfg.cmpOpts)
	if err != nil {
		diff = err.Error()
	}
	ev = append(ev, checkers.Evidence{What: "last actual", Expected: fmt.Sprintf("%+v", expected), Actual: fmt.Sprintf("%+v", last)})
	return checkers.Verdict{Outcome: checkers.Fail, Evidence: ev, Diff: diff,
		Summary: fmt.Sprintf("%s not reached within %v (%d polls)", cfg.name, deadline, polls)}
}

// safeEqual is cmp.Equal, turning its panics (unexported fields, cycles)
// into errors.
func safeEqual(x, y any, opts []cmp.Option) (equal bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("go-cmp: %v", r)
		}
	}()
	return cmp.Equal(x, y, opts...), nil
}

func safeDiff(x, y any, opts []cmp.Option) (diff string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("go-cmp: %v", r)
		}
	}()
	return cmp.Diff(x, y, opts...), nil
}
