package integrity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
)

func TestEventually(t *testing.T) {
	// passAfter returns a check that fails n times, then passes.
	passAfter := func(n int) func(context.Context) checkers.Verdict {
		calls := 0
		return func(context.Context) checkers.Verdict {
			calls++
			if calls > n {
				return checkers.Verdict{Checker: NameNoOrphans, Outcome: checkers.Pass, Summary: "clean"}
			}
			return checkers.Verdict{Checker: NameNoOrphans, Outcome: checkers.Fail, Summary: "1 orphan"}
		}
	}
	tests := []struct {
		name     string
		deadline time.Duration
		check    func(context.Context) checkers.Verdict
		cancel   bool
		want     checkers.Outcome
		prefix   string
		suffix   string
	}{
		{name: "passes at once", deadline: time.Minute, check: passAfter(0), want: checkers.Pass, prefix: "passed after ", suffix: " (1 attempt(s)): clean"},
		{name: "passes on the third attempt", deadline: time.Minute, check: passAfter(2), want: checkers.Pass, suffix: " (3 attempt(s)): clean"},
		{name: "never passes", deadline: 50 * time.Millisecond, check: passAfter(1 << 30), want: checkers.Fail, prefix: "never passed in ", suffix: "1 orphan"},
		{name: "context ends", deadline: time.Hour, check: passAfter(1 << 30), cancel: true, want: checkers.Fail, prefix: "never passed in "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			if tt.cancel {
				cancel()
			}
			defer cancel()
			v := Eventually(ctx, tt.deadline, time.Millisecond, tt.check)
			if v.Outcome != tt.want || !strings.HasPrefix(v.Summary, tt.prefix) || !strings.HasSuffix(v.Summary, tt.suffix) {
				t.Fatalf("Eventually: %s %q, want %s %q…%q", v.Outcome, v.Summary, tt.want, tt.prefix, tt.suffix)
			}
		})
	}
}
