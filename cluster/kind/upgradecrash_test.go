package kind

import (
	"github.com/faultline/faultline/faults"
	"slices"
	"testing"
	"time"
)

func TestParseKillLine(t *testing.T) {
	tests := []struct {
		line     string
		pid      int
		inWindow bool
		ok       bool
	}{
		{"killed engine vol-e-0 (pid 4242) in its upgrade window", 4242, true, true},
		{"killed engine vol-e-0 (pid 17): no upgrade window seen", 17, false, true},
		{"killed engine vol-e-0 (pid 17)", 17, false, true},
		{"watching engine vol-e-0 for its live upgrade window (up to 5s)", 0, false, false},
		{"killed engine vol-e-0 (pid x)", 0, false, false},
	}
	for _, tt := range tests {
		pid, in, ok := parseKillLine(tt.line)
		if pid != tt.pid || in != tt.inWindow || ok != tt.ok {
			t.Errorf("parseKillLine(%q) = %d, %v, %v; want %d, %v, %v", tt.line, pid, in, ok, tt.pid, tt.inWindow, tt.ok)
		}
	}
	want := []string{"/refengine", "kill-engine", "--name", "v-e-0", "--during-upgrade", "5s"}
	if got := killDuringUpgradeCommand("v-e-0", 5*time.Second); !slices.Equal(got, want) {
		t.Errorf("command %q, want %q", got, want)
	}
}

var _ faults.UpgradeCrasher = (*Driver)(nil)
