package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/internal/gobuild"
	"github.com/faultline/faultline/internal/testtool"
)

// refengineBin is a refengine built from this package by TestMain, for
// the tests that run the real binary (a node, engine-image install, exit
// codes end to end); empty under -short, where they skip.
var refengineBin string

func TestMain(m *testing.M) {
	// A stand-in engine process that kill-engine can find by its command line (fakeEngine).
	testtool.IdleIfSleeper()
	os.Exit(testtool.Main(m, gobuild.Refengine, &refengineBin))
}

// requireBinary skips the test when TestMain built no refengine (-short).
func requireBinary(t *testing.T) {
	t.Helper()
	if refengineBin == "" {
		t.Skip("no refengine binary under -short")
	}
}

// runBinary runs the built refengine with args and returns its exit code,
// stdout and stderr.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(refengineBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("refengine %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// syncBuffer is a bytes.Buffer a test may read while a child process's
// output is still being copied into it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNodeHelpShowsBothCommands: `refengine node` is the node daemon and
// the admin client of the manager's nodes; its help shows both.
func TestNodeHelpShowsBothCommands(t *testing.T) {
	requireBinary(t)
	for _, arg := range []string{"--help", "-h", "help"} {
		code, stdout, stderr := runBinary(t, "node", arg)
		if code != 0 {
			t.Errorf("node %s: exit %d, want 0\n%s", arg, code, stderr)
		}
		out := stdout + stderr
		for _, want := range []string{"--rpc-socket", "--nbd-listen", "list", "get", "delete", "NAME (only a down node holding nothing)"} {
			if !strings.Contains(out, want) {
				t.Errorf("node %s: help lacks %q:\n%s", arg, want, out)
			}
		}
	}
}
