package manager

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// testManager is a real manager: bbolt in a temp dir, HTTP on 127.0.0.1:0,
// controllers running.
type testManager struct {
	m      *Manager
	c      *client.Client
	url    string
	stop   func()
	cfg    Config
	dir    string
	closed bool
}

func startManager(t testing.TB, dir string, cfg Config) *testManager {
	t.Helper()
	cfg.DataDir = dir
	// Tests make their engine and backing image files in t.TempDir().
	if cfg.EngineImageDirs == nil {
		cfg.EngineImageDirs = []string{os.TempDir()}
	}
	if cfg.BackingImageDirs == nil {
		cfg.BackingImageDirs = []string{os.TempDir()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL == "" {
		cfg.URL = "http://" + ln.Addr().String() // nodes download backing images from here
	}
	m, err := Open(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(ln) }()
	go func() { defer wg.Done(); m.Run(ctx) }()
	url := "http://" + ln.Addr().String()
	c, err := client.New(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	tm := &testManager{m: m, c: c, url: url, cfg: cfg, dir: dir}
	tm.stop = func() {
		if tm.closed {
			return
		}
		tm.closed = true
		cancel()
		srv.Close()
		wg.Wait()
		if err := m.Close(); err != nil {
			t.Errorf("close manager: %v", err)
		}
	}
	t.Cleanup(tm.stop)
	return tm
}

// ctxT returns a context bounded by a generous deadline for waits.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// heartbeater sends heartbeats for a node until stopped.
type heartbeater struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startHeartbeats(t testing.TB, c *client.Client, node string, req api.HeartbeatRequest, every time.Duration) *heartbeater {
	t.Helper()
	if _, err := c.Heartbeat(ctxT(t), node, req); err != nil {
		t.Fatalf("first heartbeat of %s: %v", node, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &heartbeater{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := c.Heartbeat(ctx, node, req); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
					t.Errorf("heartbeat %s: %v", node, err)
				}
			}
		}
	}()
	t.Cleanup(h.Stop)
	return h
}

func (h *heartbeater) Stop() {
	h.cancel()
	<-h.done
}

func nodeRequest(host string, disks ...api.Disk) api.HeartbeatRequest {
	return api.HeartbeatRequest{
		Address: host, RPCAddress: "unix:/nonexistent/" + host + ".sock", NBDAddress: host + ":10809", Disks: disks,
	}
}

func disk(name string, total int64) api.Disk {
	return api.Disk{Name: name, LvstoreUUID: "uuid-" + name, LvstoreName: name, TotalBytes: total, FreeBytes: total}
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
