package procs

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

var readyRE = regexp.MustCompile(`msg="ready" addr=(\S+)`)

// sh runs script in the real shell as the daemon under test.
func sh(t *testing.T, script string) *Proc {
	t.Helper()
	p, err := Start(exec.Command("sh", "-c", script), readyRE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func TestReadyAndKill(t *testing.T) {
	p := sh(t, `echo booting >&2; echo 'msg="ready" addr=127.0.0.1:9' >&2; exec sleep 60`)
	addr, err := p.Ready(30 * time.Second)
	if err != nil {
		t.Fatalf("Ready: %v\n%s", err, p.Log())
	}
	if addr != "127.0.0.1:9" {
		t.Errorf("Ready = %q, want 127.0.0.1:9", addr)
	}
	if log := p.Log(); !strings.Contains(log, "booting\n") {
		t.Errorf("log lacks the first line: %q", log)
	}
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited not closed after Kill")
	}
	if p.Cmd().ProcessState == nil || p.Cmd().ProcessState.Success() {
		t.Errorf("killed process state %v", p.Cmd().ProcessState)
	}
	p.Kill() // a second Kill is a no-op
}

func TestExitBeforeReady(t *testing.T) {
	tests := []struct {
		name, script string
		want         func(error) bool
	}{
		{"exits", `echo 'bad flag' >&2; exit 2`, func(err error) bool { return errors.Is(err, ErrExited) }},
		{"silent", `exec sleep 60`, func(err error) bool { return err != nil && strings.Contains(err.Error(), "not ready after") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := sh(t, tc.script)
			timeout := 30 * time.Second
			if tc.name == "silent" {
				timeout = 50 * time.Millisecond
			}
			if _, err := p.Ready(timeout); !tc.want(err) {
				t.Fatalf("Ready: %v", err)
			}
		})
	}
}

func TestReadyLineJustBeforeExit(t *testing.T) {
	p := sh(t, `echo 'msg="ready" addr=a:1' >&2; exit 0`)
	<-p.Exited()
	if addr, err := p.Ready(time.Second); err != nil || addr != "a:1" {
		t.Fatalf("Ready after exit = %q, %v; want a:1", addr, err)
	}
}

func TestStartMissingProgram(t *testing.T) {
	if _, err := Start(exec.Command("/nonexistent/daemon"), readyRE); err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
}

func TestRestartKeepsLog(t *testing.T) {
	dir := t.TempDir()
	script := `echo run >&2; echo 'msg="ready" addr='"$PWD" >&2; exec sleep 60`
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	p, err := Start(cmd, readyRE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	first := p.Cmd().Process.Pid
	if _, err := p.Ready(30 * time.Second); err != nil {
		t.Fatalf("first run: %v\n%s", err, p.Log())
	}
	np, err := p.Restart()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(np.Kill)
	addr, err := np.Ready(30 * time.Second)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, np.Log())
	}
	if addr != dir {
		t.Errorf("restarted in %q, want the same directory %q", addr, dir)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Restart left the first process running")
	}
	if np.Cmd().Process.Pid == first {
		t.Error("Restart did not start a new process")
	}
	if n := strings.Count(np.Log(), "run\n"); n != 2 {
		t.Errorf("log after restart holds %d runs, want 2:\n%s", n, np.Log())
	}
}
