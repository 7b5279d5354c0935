package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/manager"
)

// TestBackupAdminAgainstManager drives `refengine backup`, `backup-volume`
// and the restore flags of `volume` against a real manager with its
// controllers running. There are no nodes, so the backups it sees are ones
// written to the default target with engine/backupstore, as another
// cluster would have written them, and found by a sync.
func TestBackupAdminAgainstManager(t *testing.T) {
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
	if _, err := c.ListBackups(ctx, ""); api.IsNotFound(err) && strings.Contains(err.Error(), "no endpoint") {
		t.Skip("this manager serves no /v1/backups yet")
	}
	verbs := map[string]map[string]adminVerb{"backup": backupVerbs(), "backup-volume": backupVolumeVerbs(), "volume": volumeVerbs()}
	run := func(resource string, args ...string) (int, string, string) {
		var out, errb terminalBuffer // progress shows, as to a person
		code := runAdmin(resource, verbs[resource], append(args, "--manager", srv.URL, "--timeout", "20s"), &out, &errb)
		return code, out.String(), errb.String()
	}
	runJSON := func(into any, resource string, args ...string) {
		t.Helper()
		code, out, stderr := run(resource, append(args, "--output", "json")...)
		if code != 0 || json.Unmarshal([]byte(out), into) != nil {
			t.Fatalf("%s %v: exit %d: %s %s", resource, args, code, out, stderr)
		}
	}

	// Refusals come back as one clear line and exit 1.
	if code, _, stderr := run("volume", "create", "vol1", "--size", "8M"); code != 0 {
		t.Fatalf("create vol1: exit %d: %s", code, stderr)
	}
	refusals := []struct {
		resource string
		args     []string
		msg      string
	}{
		{"backup", []string{"create", "nosuch"}, `404 Not Found: volume "nosuch" not found`},
		{"backup", []string{"create", "vol1", "--snapshot", "s1"}, "400 Bad Request: "}, // detached: no replica to read
		{"backup", []string{"get", "nosuch"}, "404 Not Found"},
		{"backup", []string{"delete", "nosuch"}, "404 Not Found"},
		{"backup-volume", []string{"get", "nosuch"}, "404 Not Found"},
		{"volume", []string{"activate", "vol1", "--wait"}, "400 Bad Request: "}, // not standby: no retry
	}
	for _, tt := range refusals {
		start := time.Now()
		code, out, stderr := run(tt.resource, tt.args...)
		if code != 1 || out != "" || !strings.Contains(stderr, tt.msg) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", tt.resource, tt.args, code, out, stderr, tt.msg)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s %v took %v: a refusal is final", tt.resource, tt.args, d)
		}
	}
	var none []api.Backup
	if runJSON(&none, "backup", "list"); len(none) != 0 {
		t.Fatalf("backups before any: %+v", none)
	}

	// Two backups of srcvol on the default target, written as a node would.
	var bt api.BackupTarget
	if bt, err = c.GetBackupTarget(ctx, api.DefaultBackupTarget); err != nil {
		t.Fatal(err)
	}
	target, err := backupstore.Open(ctx, bt.Spec.URL, backupstore.Credential{})
	if err != nil {
		t.Fatal(err)
	}
	store := backupstore.New(target, backupstore.Options{})
	data := bytes.Repeat([]byte("refengine"), (4<<20)/9+1)[:4<<20]
	prev := ""
	for i, name := range []string{"backup-old", "backup-new"} {
		data[i] ^= 0xff
		req := backupstore.BackupRequest{Volume: "srcvol", Name: name, Snapshot: "snap-" + name, Size: int64(len(data)), Source: bytes.NewReader(data), Previous: prev}
		if _, _, err := store.Backup(ctx, req); err != nil {
			t.Fatal(err)
		}
		prev = name
	}

	// A sync finds them.
	var bvs []api.BackupVolume
	runJSON(&bvs, "backup-volume", "list", "--sync")
	bvName := api.BackupVolumeName(api.DefaultBackupTarget, "srcvol")
	if len(bvs) != 1 || bvs[0].Name != bvName || bvs[0].Spec.VolumeName != "srcvol" || bvs[0].Status.LastBackupName != "backup-new" || bvs[0].Status.BackupCount != 2 {
		t.Fatalf("backup volumes after a sync: %+v", bvs)
	}
	var bv api.BackupVolume
	if runJSON(&bv, "backup-volume", "sync", bvName); bv.Status.LastSyncedAt.IsZero() || bv.Status.BackupCount != 2 {
		t.Fatalf("backup-volume sync: %+v", bv)
	}
	code, out, stderr := run("backup-volume", "get", bvName)
	if rows := columns(out); code != 0 || len(rows) != 2 || rows[0][0] != "NAME" || rows[1][0] != bvName || rows[1][3] != "backup-new" || rows[1][len(rows[1])-1] != "2" {
		t.Fatalf("backup-volume get: exit %d: %s\n%s", code, stderr, out)
	}
	var backups []api.Backup
	runJSON(&backups, "backup", "list", "--volume", "srcvol")
	byBackup := map[string]api.Backup{}
	for _, b := range backups {
		if _, _, n, err := api.ParseBackupURL(b.Status.URL); err == nil {
			byBackup[n] = b
		}
	}
	newURL := api.BackupURL(bt.Spec.URL, "srcvol", "backup-new")
	old, nb := byBackup["backup-old"], byBackup["backup-new"]
	if len(backups) != 2 || nb.Status.URL != newURL || nb.Status.State != api.BackupStateCompleted || nb.Status.Size != 4<<20 || old.Status.State != api.BackupStateCompleted {
		t.Fatalf("backups found by the sync: %+v", backups)
	}

	// Deleting one removes it from the target as well.
	if code, _, stderr := run("backup", "delete", old.Name, "--wait"); code != 0 {
		t.Fatalf("backup delete --wait: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run("backup", "get", old.Name); code != 1 || !strings.Contains(stderr, "404") {
		t.Fatalf("get after delete: exit %d: %s", code, stderr)
	}
	ms, err := store.ListBackups(ctx, "srcvol")
	if err != nil || len(ms) != 1 || ms[0].Name != "backup-new" {
		t.Fatalf("target after delete: %v, %v", ms, err)
	}

	// Restore and DR volumes from the remaining one; the size is the backup's.
	var r1, dr1 api.Volume
	if runJSON(&r1, "volume", "create", "r1", "--from-backup", newURL); r1.Spec.Size != 4<<20 || r1.Spec.FromBackup != newURL || r1.Spec.Standby {
		t.Fatalf("restore volume: %+v", r1.Spec)
	}
	if runJSON(&dr1, "volume", "create", "dr1", "--from-backup", newURL, "--standby", "--replicas", "2"); !dr1.Spec.Standby || dr1.Spec.Frontend != "" || dr1.Spec.FromBackup != newURL {
		t.Fatalf("DR volume: %+v", dr1.Spec)
	}
}
