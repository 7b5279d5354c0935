package main

import (
	"github.com/faultline/faultline/internal/testtool"

	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeEngine starts this test binary idling with the command line of an
// engine: argv[1:] = args.
func fakeEngine(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return testtool.Sleeper(t, args...)
}

// wasKilled reports whether cmd ended by SIGKILL.
func wasKilled(t *testing.T, cmd *exec.Cmd) bool {
	t.Helper()
	cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func TestKillEngine(t *testing.T) {
	eng := fakeEngine(t, "engine", "--name", "kill-e-0", "--size", "1M")
	other := fakeEngine(t, "engine", "-name=kill-e-1")
	node := fakeEngine(t, "node", "--name", "kill-e-0")

	var stdout, stderr bytes.Buffer
	if code := runKillEngine([]string{"--name", "kill-e-0"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if want := fmt.Sprintf("killed engine kill-e-0 (pid %d)\n", eng.Process.Pid); stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !wasKilled(t, eng) {
		t.Errorf("engine ended with %v, want SIGKILL", eng.ProcessState)
	}
	for _, c := range []*exec.Cmd{other, node} {
		if err := c.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("%v was hit too: %v", c.Args[1:], err)
		}
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"gone now", []string{"--name", "kill-e-0"}, 3, "no engine kill-e-0 in this pid namespace"},
		{"never there", []string{"--name", "kill-missing-e-0"}, 3, "no engine kill-missing-e-0 in this pid namespace"},
		{"no name", nil, 2, "--name is required"},
		{"extra", []string{"--name", "x", "y"}, 2, "unexpected"},
		{"negative window", []string{"--name", "x", "--during-upgrade", "-1s"}, 2, "want a positive duration, or 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runKillEngine(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) || stdout.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, stderr with %q", code, stdout.String(), stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

// With --during-upgrade, kill-engine watches for the upgrade window and
// kills the old process of two; without a window it kills the only one.
func TestKillEngineDuringUpgrade(t *testing.T) {
	old := fakeEngine(t, "engine", "--name", "upgk-e-0")
	time.Sleep(30 * time.Millisecond) // a later clock tick for the new process
	newer := fakeEngine(t, "engine", "--name", "upgk-e-0")
	var stdout, stderr bytes.Buffer
	if code := runKillEngine([]string{"--name", "upgk-e-0", "--during-upgrade", "5s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := fmt.Sprintf("watching engine upgk-e-0 for its live upgrade window (up to 5s)\nkilled engine upgk-e-0 (pid %d) in its upgrade window\n", old.Process.Pid)
	if stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !wasKilled(t, old) {
		t.Errorf("old engine ended with %v, want SIGKILL", old.ProcessState)
	}
	stdout.Reset()
	if code := runKillEngine([]string{"--name", "upgk-e-0", "--during-upgrade", "50ms"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if want := fmt.Sprintf("killed engine upgk-e-0 (pid %d): no upgrade window seen\n", newer.Process.Pid); !strings.HasSuffix(stdout.String(), want) {
		t.Errorf("stdout %q, want it to end with %q", stdout.String(), want)
	}
	if code := runKillEngine([]string{"--name", "upgk-e-0", "--during-upgrade", "50ms"}, &stdout, &stderr); code != 3 {
		t.Errorf("no engine left: exit %d, want 3", code)
	}
}

// TestKillEngineBinary runs kill-engine as its own process, the way the
// kind driver execs it in a pod: exit codes and output end to end.
func TestKillEngineBinary(t *testing.T) {
	requireBinary(t)
	eng := fakeEngine(t, "engine", "--name=killbin-e-0")
	code, stdout, stderr := runBinary(t, "kill-engine", "--name", "killbin-e-0")
	if want := fmt.Sprintf("killed engine killbin-e-0 (pid %d)\n", eng.Process.Pid); code != 0 || stdout != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q", code, stdout, stderr, want)
	}
	if !wasKilled(t, eng) {
		t.Errorf("engine ended with %v, want SIGKILL", eng.ProcessState)
	}
	code, stdout, stderr = runBinary(t, "kill-engine", "--name", "killbin-e-0")
	if code != 3 || stdout != "" || stderr != "no engine killbin-e-0 in this pid namespace\n" {
		t.Fatalf("second kill: exit %d, stdout %q, stderr %q; want 3 and the not-here line", code, stdout, stderr)
	}
}
