package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/manager"
)

// startNode runs the built refengine as a node with one disk and returns
// its JSON-RPC socket once the node answers, and the running command.
func startNode(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	socket := filepath.Join(dir, "rpc.sock")
	cmd := exec.Command(refengineBin, "node", "--name", "probe-node", "--data-dir", dir,
		"--rpc-socket", socket, "--nbd-listen", "127.0.0.1:0", "--disk", "disk-1=disk-1.img:64M")
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := probeNode(ctx, socket)
		cancel()
		if err == nil {
			return socket, cmd
		}
		select {
		case <-exited:
			t.Fatalf("node exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not answer: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProbeNode(t *testing.T) {
	requireBinary(t)
	socket, node := startNode(t)
	dir := filepath.Dir(socket)

	// A Unix socket that accepts connections and never answers: a node
	// still starting (its socket listens before its instance manager is up).
	mute, err := net.Listen("unix", filepath.Join(dir, "mute.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"healthy", []string{"--rpc-socket", socket}, 0, "serves (1 bdevs)", ""},
		{"no socket", []string{"--rpc-socket", filepath.Join(dir, "none.sock")}, 1, "", "no such file or directory"},
		{"not a socket", []string{"--rpc-socket", filepath.Join(dir, "disk-1.img")}, 1, "", "connection refused"},
		{"no answer", []string{"--rpc-socket", mute.Addr().String(), "--timeout", "300ms"}, 1, "", "no answer within 300ms"},
		{"no flag", nil, 2, "", "--rpc-socket is required"},
		{"bad timeout", []string{"--rpc-socket", socket, "--timeout", "0s"}, 2, "", "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBinary(t, append([]string{"probe", "node"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
			if code == 1 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("reason is not one line: %q", stderr)
			}
		})
	}

	// A node that stopped is unhealthy.
	if err := node.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, stderr := runBinary(t, "probe", "node", "--rpc-socket", socket)
		if code == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe of a stopped node: exit %d, %s", code, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProbeManager(t *testing.T) {
	m, err := manager.Open(manager.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		srv.Close()
		m.Close()
	})
	notManager := httptest.NewServer(http.NotFoundHandler())
	defer notManager.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"healthy", []string{"--url", srv.URL}, 0, "version " + manager.Version, ""},
		{"not a manager", []string{"--url", notManager.URL}, 1, "", "404"},
		{"down", []string{"--url", gone.URL}, 1, "", "connection refused"},
		{"bad url", []string{"--url", "127.0.0.1:9500"}, 2, "", "want http://host:port"},
		{"unknown target", nil, 2, "", "want node or manager"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			target := "manager"
			if tc.name == "unknown target" {
				target = "engine"
			}
			code := runProbe(append([]string{target}, tc.args...), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}
