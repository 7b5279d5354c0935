package kind

import (
	"slices"
	"testing"
)

// A node is paused by freezing its container, which kind names after the
// node.
func TestPauseArgs(t *testing.T) {
	for _, tc := range []struct {
		pause bool
		node  string
		want  []string
	}{
		{true, "faultline-worker2", []string{"pause", "faultline-worker2"}},
		{false, "faultline-worker2", []string{"unpause", "faultline-worker2"}},
	} {
		if got := pauseArgs(tc.pause, tc.node); !slices.Equal(got, tc.want) {
			t.Errorf("pauseArgs(%t, %q) = %q, want %q", tc.pause, tc.node, got, tc.want)
		}
	}
}
