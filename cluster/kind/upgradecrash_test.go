package kind

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/faults"
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

func TestKillReport(t *testing.T) {
	watching := "watching engine v-e-0 for its live upgrade window (up to 5s)"
	execFailed := errors.New("command terminated with exit code 1")
	tests := []struct {
		name     string
		lines    []string
		execErr  error
		pid      int
		inWindow bool
		lost     bool
		err      error
	}{
		{"in the window", []string{watching, "killed engine v-e-0 (pid 42) in its upgrade window"}, nil, 42, true, false, nil},
		{"no window seen", []string{watching, "killed engine v-e-0 (pid 17): no upgrade window seen"}, nil, 17, false, false, nil},
		{"report line lost", []string{watching}, nil, 0, false, true, nil},
		{"nothing said at all", nil, nil, 0, false, true, nil},
		{"exec failed", []string{watching}, execFailed, 0, false, false, execFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, lost, err := killReport(tt.lines, tt.execErr)
			if k.PID != tt.pid || k.InWindow != tt.inWindow || lost != tt.lost || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("killReport = pid %d, in window %v, lost %v, %v; want %d, %v, %v, %v", k.PID, k.InWindow, lost, err, tt.pid, tt.inWindow, tt.lost, tt.err)
			}
		})
	}
}
