package target

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/nbd"
)

// syncBuffer collects log lines from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// credFixture is a fixture whose target holds cred and logs into logs.
func credFixture(t *testing.T, withLvstore bool, cred credential.Token, logs *syncBuffer) *fixture {
	t.Helper()
	fx := newFixture(t, false)
	fx.tgt.Close()
	fx.tgt = New(Options{Credential: cred, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() { fx.tgt.Close() })
	fx.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": fx.disk, "block_size": 512}, nil)
	if withLvstore {
		fx.must("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, nil)
	}
	return fx
}

// TestExportAccessKey exports a replica with "access_key" and attaches it
// from other targets with and without the key.
func TestExportAccessKey(t *testing.T) {
	cred, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	other, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := credFixture(t, true, cred, logs)
	srv.lvol("replica", 4)
	srv.lvol("open", 4)
	data := pattern(13, 1<<20)
	srv.write("lvs0/replica", 0, data)
	srv.must("nbd_export_start", map[string]any{"bdev_name": "lvs0/replica", "export_name": "replica", "access_key": true}, nil)
	srv.must("nbd_export_start", map[string]any{"bdev_name": "lvs0/open", "export_name": "open"}, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.tgt.NBD().Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	addr := l.Addr().String()

	var exports []map[string]any
	srv.must("nbd_get_exports", nil, &exports)
	raw, _ := json.Marshal(exports)
	for _, e := range exports {
		if want := e["export_name"] == "replica"; e["access_key"] != want {
			t.Errorf("nbd_get_exports %v: access_key %v, want %v", e["export_name"], e["access_key"], want)
		}
	}

	same := credFixture(t, false, cred, logs)
	stranger := credFixture(t, false, other, logs)
	keyless := credFixture(t, false, credential.Token{}, logs)
	tests := []struct {
		name      string
		fx        *fixture
		export    string
		accessKey bool
		code      int // 0: attaches
		msg       string
	}{
		{"no key", same, "replica", false, -int(syscall.EACCES), "only its engine and rebuild peers may open it"},
		{"another cluster's key", stranger, "replica", true, -int(syscall.EACCES), "only its engine and rebuild peers may open it"},
		{"no credential to derive a key", keyless, "replica", true, -int(syscall.EINVAL), "no cluster credential"},
		{"the key", same, "replica", true, 0, ""},
		{"open export", keyless, "open", false, 0, ""},
		{"open export, key given", same, "open", true, 0, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "rem" + string(rune('a'+i))
			err := tt.fx.call("bdev_remote_attach", map[string]any{"name": name, "address": addr, "export_name": tt.export, "access_key": tt.accessKey}, nil)
			if tt.code != 0 {
				code, msg, ok := rpcCode(err)
				if !ok || code != tt.code || !strings.Contains(msg, tt.msg) {
					t.Fatalf("attach: %v, want code %d with %q", err, tt.code, tt.msg)
				}
				if _, found := tt.fx.tgt.Bdev(name); found {
					t.Fatal("refused attach left a bdev")
				}
				return
			}
			if err != nil {
				t.Fatalf("attach: %v", err)
			}
			if tt.export == "replica" && !bytes.Equal(tt.fx.read(name, 0, len(data)), data) {
				t.Error("remote bdev reads different data")
			}
			tt.fx.must("bdev_remote_detach", map[string]any{"name": name}, nil)
		})
	}
	// The plain client of package nbd is refused too; the key opens.
	dctx, dcancel := context.WithTimeout(context.Background(), remoteDialTimeout)
	defer dcancel()
	if c, err := nbd.Dial(dctx, "tcp", addr, "replica"); err == nil {
		c.Close()
		t.Fatal("plain client opened the protected export")
	}
	c, err := nbd.DialWith(dctx, "tcp", addr, "replica", nbd.DialOptions{Key: cred.ExportKey("replica")})
	if err != nil {
		t.Fatalf("dial with the key: %v", err)
	}
	c.Close()
	key := cred.ExportKey("replica")
	for what, s := range map[string]string{"logs": logs.String(), "nbd_get_exports": string(raw)} {
		if strings.Contains(s, key) || strings.Contains(s, other.ExportKey("replica")) {
			t.Errorf("%s hold an export key:\n%s", what, s)
		}
	}
	// Without a credential a node cannot protect an export.
	err = keyless.call("nbd_export_start", map[string]any{"bdev_name": "disk0", "export_name": "x", "access_key": true}, nil)
	if code, msg, _ := rpcCode(err); code != -int(syscall.EINVAL) || !strings.Contains(msg, "no cluster credential") {
		t.Errorf("access_key without a credential: %v", err)
	}
}
