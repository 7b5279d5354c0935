package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/manager"
)

// TestBackupTargetAdmin drives `refengine backup-target` against a real
// manager with its controllers running (sync waits for them).
func TestBackupTargetAdmin(t *testing.T) {
	m, err := manager.Open(manager.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
		m.Close()
	})
	run := func(args ...string) (int, string, string) {
		var out, errb terminalBuffer // progress shows, as to a person
		code := runAdmin("backup-target", backupTargetVerbs(), append(args, "--manager", srv.URL), &out, &errb)
		return code, out.String(), errb.String()
	}
	get := func(name string) api.BackupTarget {
		t.Helper()
		code, out, stderr := run("get", name, "--output", "json")
		var bt api.BackupTarget
		if code != 0 || json.Unmarshal([]byte(out), &bt) != nil {
			t.Fatalf("get %s: exit %d: %s %s", name, code, out, stderr)
		}
		return bt
	}

	dir := t.TempDir()
	if code, _, stderr := run("create", "files", "--url", "file://"+dir, "--poll-interval", "30s"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	if bt := get("files"); bt.Spec.URL != "file://"+dir || bt.Spec.PollInterval != api.Duration(30*time.Second) {
		t.Fatalf("created %+v", bt.Spec)
	}
	code, out, stderr := run("sync", "files", "--output", "json")
	var bt api.BackupTarget
	if code != 0 || json.Unmarshal([]byte(out), &bt) != nil || !bt.Status.Available || bt.Status.LastSyncedAt.IsZero() {
		t.Fatalf("sync: exit %d: %s %s", code, out, stderr)
	}

	// Secrets from a file or the environment, never echoed back.
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("file-sekrit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run("create", "s3", "--url", "s3://bkt@us-east-1/p", "--access-key", "ak",
		"--secret-key-file", secretFile, "--endpoint", "http://127.0.0.1:1"); code != 0 {
		t.Fatalf("create s3: exit %d: %s", code, stderr)
	}
	t.Setenv(secretKeyEnv, "env-sekrit")
	if code, _, stderr := run("update", "s3", "--access-key", "ak2", "--endpoint", "http://127.0.0.1:1"); code != 0 {
		t.Fatalf("update s3: exit %d: %s", code, stderr)
	}
	if c := get("s3").Spec.Credential; c == nil || c.AccessKey != "ak2" || !c.HasSecret || c.SecretKey != "" {
		t.Fatalf("credential after update: %+v", c)
	}
	code, out, _ = run("list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "default") ||
		!strings.Contains(out, "files") || !strings.Contains(out, "key ak2 +secret") || strings.Contains(out, "sekrit") {
		t.Fatalf("list table: exit %d:\n%s", code, out)
	}
	// The environment alone sends no credential: a file target takes none.
	if code, _, stderr := run("update", "files", "--poll-interval", "45s"); code != 0 {
		t.Fatalf("update a file target with the secret exported: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run("update", "s3", "--url", "file://"+dir, "--clear-credential", "--poll-interval", "1m"); code != 0 {
		t.Fatalf("move s3 to a file URL: exit %d: %s", code, stderr)
	}
	if bt := get("s3"); bt.Spec.Credential != nil || bt.Spec.PollInterval != api.Duration(time.Minute) {
		t.Fatalf("after --clear-credential: %+v", bt.Spec)
	}

	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"delete", "default"}, 1, "cannot be deleted"},
		{[]string{"create", "bad", "--url", "file://relative"}, 1, "invalid backup target URL"},
		{[]string{"create", "x", "--url", "s3://b@r/", "--secret-key-file", "/nonexistent/secret"}, 2, "--secret-key-file"},
		{[]string{"update", "files", "--clear-credential", "--access-key", "a"}, 2, "--clear-credential"},
		{[]string{"update", "files"}, 1, "nothing to change"},
		{[]string{"sync"}, 2, "want 1 argument"},
		{[]string{"create", "--help"}, 0, "flags show up in ps"},
		{[]string{"delete", "files"}, 0, ""},
		{[]string{"get", "files"}, 1, "not found"},
	}
	for _, tt := range tests {
		code, _, stderr := run(tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.msg)
		}
	}
}
