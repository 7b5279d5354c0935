package integrity

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/checkers"
)

// Eventually re-runs check every interval until it passes or ctx or the
// deadline ends, and returns the last verdict, its Summary prefixed with how
// long it took or with the fact that it never passed. It is for checks after
// a recovery, where a background cleanup (a purge, a leftover removal) may
// still be finishing.
//
// Each attempt runs with ctx, not the deadline, so that the last verdict is
// a real answer rather than an attempt cut short; an attempt that started
// before the deadline may therefore end after it. The verdicts of the
// attempts are whatever check records: pass a Checker without Recorder and
// record the result (checkers.Record), so that the timeline shows one
// verdict rather than every failed attempt.
func Eventually(ctx context.Context, deadline, interval time.Duration, check func(context.Context) checkers.Verdict) checkers.Verdict {
	start := time.Now()
	end := time.NewTimer(deadline)
	defer end.Stop()
	for attempt := 1; ; attempt++ {
		v := check(ctx)
		took := time.Since(start).Round(time.Millisecond)
		if v.Passed() {
			v.Summary = fmt.Sprintf("passed after %s (%d attempt(s)): %s", took, attempt, v.Summary)
			return v
		}
		tick := time.NewTimer(interval)
		select {
		case <-tick.C:
			continue
		case <-end.C:
		case <-ctx.Done():
		}
		tick.Stop()
		took = time.Since(start).Round(time.Millisecond)
		v.Summary = fmt.Sprintf("never passed in %s (%d attempt(s)): %s", took, attempt, v.Summary)
		return v
	}
}
