package manager

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/internal/versitygw"
)

func TestDefaultBackupTarget(t *testing.T) {
	dir := t.TempDir()
	tm := startManager(t, dir, Config{})
	bt := waitTargetSynced(t, tm, api.DefaultBackupTarget)
	wantURL := "file://" + filepath.Join(dir, "backupstore")
	if bt.Spec.URL != wantURL || bt.Spec.PollInterval != api.DefaultBackupTargetPollInterval {
		t.Fatalf("default target spec %+v, want url %s and poll %s", bt.Spec, wantURL, api.DefaultBackupTargetPollInterval)
	}
	if !bt.Status.Available || bt.Status.Message != "" {
		t.Fatalf("default target status %+v, want available", bt.Status)
	}
	if st, err := os.Stat(filepath.Join(dir, "backupstore")); err != nil || !st.IsDir() {
		t.Fatalf("default backup store directory: %v", err)
	}
	err := tm.c.DeleteBackupTarget(ctxT(t), api.DefaultBackupTarget)
	if !api.IsCode(err, 409) || !strings.Contains(err.Error(), "cannot be deleted") {
		t.Fatalf("delete default: %v, want 409 cannot be deleted", err)
	}

	// A restart keeps the target as the API left it, whatever the flag says.
	other := t.TempDir()
	if _, err := tm.c.UpdateBackupTarget(ctxT(t), api.DefaultBackupTarget, api.BackupTargetUpdateRequest{URL: "file://" + other}); err != nil {
		t.Fatal(err)
	}
	tm.stop()
	tm = startManager(t, dir, Config{BackupTargetURL: "file:///somewhere/else"})
	bt, err = tm.c.GetBackupTarget(ctxT(t), api.DefaultBackupTarget)
	if err != nil || bt.Spec.URL != "file://"+other {
		t.Fatalf("after restart: %+v, %v; want url file://%s", bt.Spec, err, other)
	}

	// A fresh manager takes the flag's URL, and refuses a bad one.
	tm2 := startManager(t, t.TempDir(), Config{BackupTargetURL: "file://" + other})
	if bt, err := tm2.c.GetBackupTarget(ctxT(t), api.DefaultBackupTarget); err != nil || bt.Spec.URL != "file://"+other {
		t.Fatalf("flag URL not used: %+v, %v", bt.Spec, err)
	}
	if _, err := Open(Config{DataDir: t.TempDir(), BackupTargetURL: "nfs://x/y"}); err == nil || !strings.Contains(err.Error(), "unknown scheme") {
		t.Fatalf("Open with a bad backup target URL: %v", err)
	}
}

func TestBackupTargetCRUD(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	const secret = "sekrit-do-not-show"
	s3 := api.BackupTargetCreateRequest{
		Name: "s3t", URL: "s3://backups@us-east-1/x",
		Credential: &api.BackupTargetCredential{AccessKey: "ak", SecretKey: secret, Endpoint: "http://127.0.0.1:1"},
	}
	created, err := tm.c.CreateBackupTarget(ctx, s3)
	if err != nil {
		t.Fatal(err)
	}
	if c := created.Spec.Credential; c == nil || c.SecretKey != "" || !c.HasSecret || c.AccessKey != "ak" {
		t.Fatalf("created credential %+v, want the secret redacted with hasSecret", c)
	}
	if _, err := tm.c.CreateBackupTarget(ctx, s3); !api.IsCode(err, 409) {
		t.Fatalf("duplicate create: %v, want 409", err)
	}
	fileDir := t.TempDir()
	ft, err := tm.c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: "files", URL: "file://" + fileDir})
	if err != nil {
		t.Fatal(err)
	}
	if ft.Spec.PollInterval != api.DefaultBackupTargetPollInterval || ft.Spec.SyncRequestedAt.IsZero() {
		t.Fatalf("created file target spec %+v, want the default poll interval and a sync request", ft.Spec)
	}
	all, err := tm.c.ListBackupTargets(ctx)
	if err != nil || len(all) != 3 || all[0].Name != "default" || all[1].Name != "files" || all[2].Name != "s3t" {
		t.Fatalf("list: %+v, %v", all, err)
	}

	tests := []struct {
		name   string
		req    api.BackupTargetUpdateRequest
		check  func(api.BackupTarget) bool
		secret string
	}{
		{"poll interval", api.BackupTargetUpdateRequest{PollInterval: ptr(api.Duration(time.Minute))},
			func(b api.BackupTarget) bool {
				return b.Spec.PollInterval == api.Duration(time.Minute) && b.Spec.Credential.HasSecret
			}, secret},
		{"credential without secret keeps it", api.BackupTargetUpdateRequest{Credential: &api.BackupTargetCredential{AccessKey: "ak2", Endpoint: "http://127.0.0.1:2"}},
			func(b api.BackupTarget) bool {
				return b.Spec.Credential.AccessKey == "ak2" && b.Spec.Credential.HasSecret
			}, secret},
		{"new secret", api.BackupTargetUpdateRequest{Credential: &api.BackupTargetCredential{AccessKey: "ak3", SecretKey: secret + "2"}},
			func(b api.BackupTarget) bool { return b.Spec.Credential.SecretKey == "" && b.Spec.Credential.HasSecret }, secret + "2"},
		{"url", api.BackupTargetUpdateRequest{URL: "s3://backups@us-east-1/y"},
			func(b api.BackupTarget) bool {
				return b.Spec.URL == "s3://backups@us-east-1/y" && b.Spec.Credential.AccessKey == "ak3"
			}, secret + "2"},
		{"empty credential removes it", api.BackupTargetUpdateRequest{Credential: &api.BackupTargetCredential{}},
			func(b api.BackupTarget) bool { return b.Spec.Credential == nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := tm.c.GetBackupTarget(ctx, "s3t")
			if err != nil {
				t.Fatal(err)
			}
			got, err := tm.c.UpdateBackupTarget(ctx, "s3t", tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) || !got.Spec.SyncRequestedAt.After(before.Spec.SyncRequestedAt) {
				t.Fatalf("after update: %+v", got.Spec)
			}
			if s := storedSecret(t, tm, "s3t"); s != tt.secret {
				t.Fatalf("stored secret %q, want %q", s, tt.secret)
			}
		})
	}
	if _, err := tm.c.UpdateBackupTarget(ctx, "files", api.BackupTargetUpdateRequest{Credential: &api.BackupTargetCredential{AccessKey: "a"}}); !api.IsCode(err, 400) {
		t.Fatalf("credential on a file target: %v, want 400", err)
	}

	// The secret never leaves the manager: not in answers, not in events.
	for _, path := range []string{"/v1/backuptargets", "/v1/backuptargets/s3t", "/v1/events?since=0&limit=10000"} {
		status, body := rawCall(t, "GET", tm.url+path, "")
		if status != 200 || strings.Contains(string(body), "sekrit") {
			t.Fatalf("GET %s: %d, secret shown or call failed: %s", path, status, body)
		}
	}

	// A target a volume uses cannot go; nothing on a deleted target is touched.
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol1", Size: api.MiB, BackupTargetName: "files"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol2", Size: api.MiB, BackupTargetName: "files"}); err != nil {
		t.Fatal(err)
	}
	err = tm.c.DeleteBackupTarget(ctx, "files")
	if !api.IsCode(err, 409) || !strings.Contains(err.Error(), "volumes vol1, vol2") {
		t.Fatalf("delete used target: %v, want 409 naming vol1 and vol2", err)
	}
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol3", Size: api.MiB, BackupTargetName: "nope"}); !api.IsCode(err, 400) {
		t.Fatalf("volume on a missing target: %v, want 400", err)
	}
	remote := filepath.Join(t.TempDir(), "remote")
	if err := os.MkdirAll(filepath.Join(remote, "volumes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(remote, "volumes", "keep.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: "gone", URL: "file://" + remote}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gone", "s3t"} {
		if err := tm.c.DeleteBackupTarget(ctx, name); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
		if _, err := tm.c.GetBackupTarget(ctx, name); !api.IsNotFound(err) {
			t.Fatalf("get deleted %s: %v, want 404", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(remote, "volumes", "keep.json")); err != nil {
		t.Fatalf("deleting a target touched its data: %v", err)
	}
	if s := storedSecret(t, tm, "s3t"); s != "" {
		t.Fatalf("secret of a deleted target kept: %q", s)
	}
}

func ptr[T any](v T) *T { return &v }

func storedSecret(t *testing.T, tm *testManager, name string) string {
	t.Helper()
	var s string
	if err := tm.m.store.View(func(tx *Tx) error {
		var err error
		s, err = tx.secret(name)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBackupTargetAvailabilityFile takes a file target's directory away and
// brings it back, once seen by POST .../sync and once by the controller's
// own polling.
func TestBackupTargetAvailabilityFile(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	dir := filepath.Join(t.TempDir(), "target")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: "files", URL: "file://" + dir}); err != nil {
		t.Fatal(err)
	}
	waitTarget(t, tm, "target available", "files", func(b api.BackupTarget) bool { return b.Status.Available })

	steps := []struct {
		name      string
		do        func() error
		available bool
		msg       string
	}{
		{"directory gone", func() error { return os.Rename(dir, dir+".away") }, false, "unreachable"},
		{"directory back", func() error { return os.Rename(dir+".away", dir) }, true, ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatal(err)
		}
		bt, err := tm.c.SyncBackupTarget(ctx, "files")
		if err != nil {
			t.Fatalf("%s: sync: %v", st.name, err)
		}
		if bt.Status.Available != st.available || !strings.Contains(bt.Status.Message, st.msg) ||
			(!st.available && !strings.Contains(bt.Status.Message, dir)) {
			t.Fatalf("%s: status %+v, want available=%v and a message naming %q and the directory", st.name, bt.Status, st.available, st.msg)
		}
	}

	// Polling: a target stored with a poll interval below the API's
	// minimum, so the controller's own timer finds the change.
	polled := filepath.Join(t.TempDir(), "polled")
	if err := os.Mkdir(polled, 0o755); err != nil {
		t.Fatal(err)
	}
	err := tm.m.store.Update(func(tx *Tx) error {
		return tx.Put(api.KindBackupTarget, "polled", api.BackupTarget{Name: "polled", Spec: api.BackupTargetSpec{
			URL: "file://" + polled, PollInterval: api.Duration(50 * time.Millisecond), SyncRequestedAt: tx.Now(),
		}})
	})
	if err != nil {
		t.Fatal(err)
	}
	since, err := tm.m.store.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	waitTarget(t, tm, "polled target available", "polled", func(b api.BackupTarget) bool { return b.Status.Available })
	if err := os.Rename(polled, polled+".away"); err != nil {
		t.Fatal(err)
	}
	bt := waitTarget(t, tm, "polled target unavailable", "polled", func(b api.BackupTarget) bool { return !b.Status.Available })
	if !strings.Contains(bt.Status.Message, "unreachable") || !strings.Contains(bt.Status.Message, polled) {
		t.Fatalf("message %q does not say the target is unreachable", bt.Status.Message)
	}
	if err := os.Rename(polled+".away", polled); err != nil {
		t.Fatal(err)
	}
	waitTarget(t, tm, "polled target available again", "polled", func(b api.BackupTarget) bool { return b.Status.Available })

	// Each status change went out on the change stream.
	l, err := tm.c.Events(ctx, since, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var seen []bool
	for _, ev := range l.Events {
		if ev.Kind == api.KindBackupTarget && ev.Name == "polled" && ev.Type == api.EventUpdated {
			avail := strings.Contains(string(ev.Object), `"available": true`) || strings.Contains(string(ev.Object), `"available":true`)
			if len(seen) == 0 || seen[len(seen)-1] != avail {
				seen = append(seen, avail)
			}
		}
	}
	if len(seen) < 3 || !seen[0] || seen[1] || !seen[2] {
		t.Fatalf("availability on the change stream: %v, want true, false, true", seen)
	}
}

// TestBackupTargetAvailabilityS3 checks an S3 target on a real versitygw
// server: available, a wrong secret (access denied), the server stopped
// (unreachable), and both repaired.
func TestBackupTargetAvailabilityS3(t *testing.T) {
	srv := versitygw.Start(t)
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	cred := func(secret string) *api.BackupTargetCredential {
		return &api.BackupTargetCredential{AccessKey: versitygw.AccessKey, SecretKey: secret, Endpoint: srv.Endpoint, Region: versitygw.Region}
	}
	if _, err := tm.c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: "s3", URL: srv.URL("refengine"), Credential: cred(versitygw.SecretKey)}); err != nil {
		t.Fatal(err)
	}
	waitTarget(t, tm, "S3 target available", "s3", func(b api.BackupTarget) bool { return b.Status.Available })

	steps := []struct {
		name      string
		do        func()
		available bool
		msg       string
	}{
		{"wrong secret", func() { update(t, tm, "s3", api.BackupTargetUpdateRequest{Credential: cred("wrong-secret")}) }, false, "access denied"},
		{"right secret", func() { update(t, tm, "s3", api.BackupTargetUpdateRequest{Credential: cred(versitygw.SecretKey)}) }, true, ""},
		{"server stopped", srv.Stop, false, "unreachable"},
		{"server back", srv.Restart, true, ""},
	}
	for _, st := range steps {
		st.do()
		bt, err := tm.c.SyncBackupTarget(ctx, "s3")
		if err != nil {
			t.Fatalf("%s: sync: %v", st.name, err)
		}
		if bt.Status.Available != st.available || !strings.Contains(bt.Status.Message, st.msg) {
			t.Fatalf("%s: status %+v, want available=%v and a message with %q", st.name, bt.Status, st.available, st.msg)
		}
		t.Logf("%s: available=%v message=%q", st.name, bt.Status.Available, bt.Status.Message)
		if strings.Contains(bt.Status.Message, versitygw.SecretKey) || strings.Contains(bt.Status.Message, "wrong-secret") {
			t.Fatalf("%s: message shows a secret: %q", st.name, bt.Status.Message)
		}
	}
}

func update(t *testing.T, tm *testManager, name string, req api.BackupTargetUpdateRequest) {
	t.Helper()
	if _, err := tm.c.UpdateBackupTarget(ctxT(t), name, req); err != nil {
		t.Fatal(err)
	}
}
