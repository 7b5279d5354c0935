package main

import (
	"bytes"
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

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/manager"
)

// TestSystemBackupAdminAgainstManager drives `refengine system-backup` and
// `system-restore` against a real manager with its controllers running.
// There are no nodes, hence no volumes: what it backs up and restores are
// the backup targets, which is where the targetSecrets rule lives.
func TestSystemBackupAdminAgainstManager(t *testing.T) {
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
	c, err := client.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListSystemBackups(ctx); api.IsNotFound(err) && strings.Contains(err.Error(), "no endpoint") {
		t.Skip("this manager serves no /v1/systembackups yet")
	}
	verbs := map[string]map[string]adminVerb{"system-backup": systemBackupVerbs(), "system-restore": systemRestoreVerbs()}
	run := func(resource string, args ...string) (int, string, string) {
		var out, errb terminalBuffer // progress shows, as to a person
		code := runAdmin(resource, verbs[resource], append(args, "--manager", srv.URL, "--timeout", "20s"), &out, &errb)
		return code, out.String(), errb.String()
	}
	runJSON := func(into any, resource string, args ...string) string {
		t.Helper()
		code, out, stderr := run(resource, append(args, "--output", "json")...)
		if code != 0 || json.Unmarshal([]byte(out), into) != nil {
			t.Fatalf("%s %v: exit %d: %s %s", resource, args, code, out, stderr)
		}
		return stderr
	}

	// Two more targets, one with a secret key the bundle must not hold.
	extraDir := t.TempDir()
	if _, err := c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: "extra", URL: "file://" + extraDir}); err != nil {
		t.Fatal(err)
	}
	s3cred := &api.BackupTargetCredential{AccessKey: "ak", SecretKey: "sekrit-1", Endpoint: "http://127.0.0.1:1"}
	if _, err := c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: "s3t", URL: "s3://bkt@us-east-1/p", Credential: s3cred}); err != nil {
		t.Fatal(err)
	}

	var sb api.SystemBackup
	progress := runJSON(&sb, "system-backup", "create", "sb1", "--policy", "always", "--wait")
	if sb.Status.State != api.SystemBackupStateReady || sb.Spec.VolumeBackupPolicy != api.VolumeBackupPolicyAlways ||
		!strings.HasSuffix(sb.Status.URL, "system-backups/sb1/bundle.json") || sb.Status.CreatedAt.IsZero() {
		t.Fatalf("system backup: %+v", sb)
	}
	if progress != "" {
		t.Fatalf("progress with --output json, which keeps quiet:\n%s", progress)
	}
	var bundle api.SystemBackupBundle
	runJSON(&bundle, "system-backup", "bundle", "sb1")
	targets := map[string]api.BackupTarget{}
	for _, bt := range bundle.BackupTargets {
		targets[bt.Name] = bt
	}
	if bundle.Name != "sb1" || len(targets) != 3 || targets["extra"].Spec.URL != "file://"+extraDir || len(bundle.Settings) == 0 {
		t.Fatalf("bundle: %+v", bundle)
	}
	if cr := targets["s3t"].Spec.Credential; cr == nil || !cr.HasSecret || cr.SecretKey != "" {
		t.Fatalf("s3t's credential in the bundle: %+v", cr)
	}
	def, err := c.GetBackupTarget(ctx, api.DefaultBackupTarget)
	if err != nil {
		t.Fatal(err)
	}
	onTarget := filepath.Join(strings.TrimPrefix(def.Spec.URL, "file://"), "system-backups", "sb1", "bundle.json")
	if b, err := os.ReadFile(onTarget); err != nil || bytes.Contains(b, []byte("sekrit")) {
		t.Fatalf("bundle on the default target: %v (holds the secret: %v)", err, bytes.Contains(b, []byte("sekrit")))
	}

	// Both targets gone: a restore without s3t's secret fails, naming the way out.
	for _, name := range []string{"extra", "s3t"} {
		if err := c.DeleteBackupTarget(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := run("system-restore", "create", "r1", "--from", "sb1", "--wait")
	if code != 1 || out != "" || !strings.Contains(stderr, "system restore r1 failed") || !strings.Contains(stderr, "targetSecrets") {
		t.Fatalf("restore without the secret: exit %d, stdout %q, stderr:\n%s", code, out, stderr)
	}
	var r api.SystemRestore
	runJSON(&r, "system-restore", "create", "r2", "--from", "sb1", "--target-secret", "s3t=sekrit-2", "--wait")
	actions := map[string]string{}
	for _, o := range r.Status.Objects {
		actions[o.Kind+" "+o.Name] = o.Action
	}
	if r.Status.State != api.SystemRestoreStateCompleted || actions["backupTarget s3t"] != api.RestoreActionCreated || actions["backupTarget default"] != api.RestoreActionUnchanged {
		t.Fatalf("restore with the secret: %+v", r)
	}
	if bt, err := c.GetBackupTarget(ctx, "s3t"); err != nil || bt.Spec.Credential == nil || !bt.Spec.Credential.HasSecret || bt.Spec.Credential.AccessKey != "ak" {
		t.Fatalf("re-created s3t: %+v %v", bt, err)
	}
	if bt, err := c.GetBackupTarget(ctx, "extra"); err != nil || bt.Spec.URL != "file://"+extraDir {
		t.Fatalf("re-created extra: %+v %v", bt, err)
	}

	code, out, stderr = run("system-restore", "list")
	if rows := columns(out); code != 0 || len(rows) != 3 || rows[1][0] != "r1" || rows[1][2] != api.SystemRestoreStateError || rows[2][0] != "r2" || rows[2][2] != api.SystemRestoreStateCompleted {
		t.Fatalf("system-restore list: exit %d: %s\n%s", code, stderr, out)
	}
	refusals := []struct {
		resource string
		args     []string
		msg      string
	}{
		{"system-backup", []string{"create", "sb1"}, "409 Conflict"},
		{"system-backup", []string{"bundle", "nosuch"}, "404 Not Found"},
		{"system-restore", []string{"create", "r3", "--from", "nosuch"}, "404 Not Found"},
		{"system-restore", []string{"create", "r2", "--from", "sb1"}, "409 Conflict"},
		{"system-restore", []string{"get", "nosuch"}, "404 Not Found"},
	}
	for _, tt := range refusals {
		code, _, stderr := run(tt.resource, tt.args...)
		if code != 1 || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%s %v: exit %d, stderr %q; want %q", tt.resource, tt.args, code, stderr, tt.msg)
		}
	}

	// Forgetting restores leaves what they restored; deleting the system
	// backup removes its bundle from the target.
	for _, name := range []string{"r1", "r2"} {
		if code, _, stderr := run("system-restore", "delete", name); code != 0 {
			t.Fatalf("system-restore delete %s: exit %d: %s", name, code, stderr)
		}
	}
	if code, _, stderr := run("system-backup", "delete", "sb1", "--wait"); code != 0 {
		t.Fatalf("system-backup delete --wait: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(onTarget); !os.IsNotExist(err) {
		t.Fatalf("bundle after delete: %v", err)
	}
	if code, _, stderr := run("system-backup", "get", "sb1"); code != 1 || !strings.Contains(stderr, "404") {
		t.Fatalf("get after delete: exit %d: %s", code, stderr)
	}
	if _, err := c.GetBackupTarget(ctx, "s3t"); err != nil {
		t.Fatalf("s3t after the restores were deleted: %v", err)
	}
}
