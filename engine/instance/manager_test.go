package instance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/target"
)

func newTestManager(t *testing.T, dataDir string) *Manager {
	t.Helper()
	tg := target.New(target.Options{})
	t.Cleanup(func() { tg.Close() })
	m, err := New(Options{Node: "n1", Target: tg, DataDir: dataDir, NBDAddress: "127.0.0.1:1", EngineBinary: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestEngineSocketDir: a data dir too deep for Unix socket paths gets its
// engine sockets in a private temp dir, removed on Close.
func TestEngineSocketDir(t *testing.T) {
	short := newTestManager(t, t.TempDir())
	if !strings.HasPrefix(short.engineDir(), short.opts.DataDir) {
		t.Errorf("engine dir %s is not under the data dir", short.engineDir())
	}
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	m := newTestManager(t, deep)
	dir := m.engineDir()
	if strings.HasPrefix(dir, deep) || len(dir)+32 > maxSocketPath {
		t.Fatalf("engine dir %s for data dir of %d bytes", dir, len(deep))
	}
	m.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp engine dir %s left behind: %v", dir, err)
	}
}

// TestBadRequests: the im_* methods refuse bad input with errors and the
// manager keeps working.
func TestBadRequests(t *testing.T) {
	m := newTestManager(t, t.TempDir())
	ctx := context.Background()
	for _, tc := range []struct {
		method string
		params any
	}{
		{improto.MethodReplicaCreate, map[string]any{"name": "a/b", "size": 1 << 20, "lvs_name": "x"}},
		{improto.MethodReplicaCreate, map[string]any{"name": "vol-r-12345678", "size": -1, "lvs_name": "x"}},
		{improto.MethodReplicaCreate, map[string]any{"name": "vol-r-12345678", "size": 1 << 20, "lvs_name": "nope"}},
		{improto.MethodReplicaCreate, map[string]any{"size": 1 << 20}},
		{improto.MethodReplicaCreate, map[string]any{"name": "x", "bogus": 1}},
		{improto.MethodReplicaGet, map[string]any{"name": "missing"}},
		{improto.MethodEngineGet, map[string]any{"name": "missing"}},
		{improto.MethodEngineCreate, map[string]any{"name": "e", "size": 1 << 20, "frontend_export": "v"}},
		{improto.MethodEngineCreate, map[string]any{"name": "e", "size": 1 << 20, "frontend_export": "v", "replicas": []map[string]string{{"name": "r", "address": "a,b", "export": "r"}}}},
		{improto.MethodEngineCreate, map[string]any{"name": "e", "size": 0, "frontend_export": "v", "replicas": []map[string]string{{"name": "r", "address": "a", "export": "r"}}}},
		{improto.MethodEngineSnapshot, map[string]any{"name": "missing", "snapshot": "s"}},
		{improto.MethodEngineUpgrade, map[string]any{"name": "missing"}},
		{improto.MethodEngineReplicaAdd, map[string]any{"name": "missing", "replica": map[string]string{"name": "r", "address": "a", "export": "r"}}},
		{improto.MethodReplicaList, map[string]any{"x": 1}},
		{improto.MethodReplicaList, "not an object"},
	} {
		if err := m.callLocal(ctx, tc.method, tc.params, nil); err == nil {
			t.Errorf("%s %v succeeded", tc.method, tc.params)
		}
	}
	// Deleting what does not exist succeeds (the manager retries).
	for _, method := range []string{improto.MethodReplicaDelete, improto.MethodEngineDelete} {
		if err := m.callLocal(ctx, method, map[string]any{"name": "missing"}, nil); err != nil {
			t.Errorf("%s of a missing instance: %v", method, err)
		}
	}
	var l improto.ReplicaList
	if err := m.callLocal(ctx, improto.MethodReplicaList, nil, &l); err != nil || len(l.Replicas) != 0 {
		t.Errorf("replica list %+v, %v", l, err)
	}
}

// FuzzHandlers feeds arbitrary params to every im_* method of a manager
// with no disks: each must answer (result or error), never panic.
func FuzzHandlers(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"name":"vol-r-12345678","size":1048576,"lvs_name":"l"}`, `null`, `[]`, `{"replica":{}}`, `{"name":"e","replicas":[{"name":"a","address":"b","export":"c"}],"size":1,"frontend_export":"v"}`} {
		f.Add(s)
	}
	m := newTestManagerF(f)
	handlers := m.handlers()
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		if n != improto.MethodEngineCreate { // would start processes
			names = append(names, n)
		}
	}
	f.Fuzz(func(t *testing.T, params string) {
		for _, n := range names {
			handlers[n](context.Background(), []byte(params))
		}
	})
}

func newTestManagerF(f *testing.F) *Manager {
	tg := target.New(target.Options{})
	f.Cleanup(func() { tg.Close() })
	m, err := New(Options{Node: "n1", Target: tg, DataDir: f.TempDir(), NBDAddress: "127.0.0.1:1", EngineBinary: "/bin/false"})
	if err != nil {
		f.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	return m
}
