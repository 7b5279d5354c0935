package manager

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// TestSystemBackupRequests covers what the API refuses and answers
// without nodes: bad policies and names, duplicates, a bundle or a restore
// of a system backup that is not Ready.
func TestSystemBackupRequests(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	c := tm.c
	for _, tc := range []struct {
		req  api.SystemBackupCreateRequest
		code int
		msg  string
	}{
		{api.SystemBackupCreateRequest{Name: "s1", VolumeBackupPolicy: "sometimes"}, 400, "volumeBackupPolicy"},
		{api.SystemBackupCreateRequest{Name: "Bad_Name"}, 400, "invalid"},
		{api.SystemBackupCreateRequest{}, 400, "required"},
	} {
		_, err := c.CreateSystemBackup(ctx, tc.req)
		if !api.IsCode(err, tc.code) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("create %+v: %v, want %d mentioning %q", tc.req, err, tc.code, tc.msg)
		}
	}
	sb, err := c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: "s1"})
	if err != nil || sb.Spec.VolumeBackupPolicy != api.VolumeBackupPolicyIfNotPresent {
		t.Fatalf("create s1: %+v, %v; want the if-not-present default", sb.Spec, err)
	}
	if _, err := c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: "s1"}); !api.IsCode(err, 409) {
		t.Fatalf("duplicate: %v, want 409", err)
	}
	if _, err := c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: "r0", SystemBackup: "nope"}); !api.IsCode(err, 404) {
		t.Fatalf("restore of a missing system backup: %v, want 404", err)
	}
	sb, err = c.WaitSystemBackup(ctx, "s1", func(sb api.SystemBackup) bool { return sb.Status.State == api.SystemBackupStateReady })
	if err != nil {
		t.Fatalf("s1 (no volumes) not Ready: %+v, %v", sb.Status, err)
	}
	if sb.Status.URL == "" || sb.Status.Version != Version || sb.Status.CreatedAt.IsZero() {
		t.Fatalf("ready status %+v: want url, version and createdAt", sb.Status)
	}
	if _, err := c.SystemBackupBundle(ctx, "missing"); !api.IsCode(err, 404) {
		t.Fatalf("bundle of a missing system backup: %v, want 404", err)
	}
	if _, err := c.DeleteSystemBackup(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitSystemBackup(ctx, "s1", func(sb api.SystemBackup) bool { return sb.Name == "" }); err != nil {
		t.Fatalf("deleted system backup still listed: %v", err)
	}
}

// TestSystemRestoreTargetSecret: the bundle never holds a target's secret
// key; restoring a target that needs one fails clearly without it and
// re-creates the target with it, after which the manager keeps no copy
// of what the request gave.
func TestSystemRestoreTargetSecret(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	c := tm.c
	const secret = "sekrit-do-not-show"
	if _, err := c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{
		Name: "s3t", URL: "s3://backups@us-east-1/x",
		Credential: &api.BackupTargetCredential{AccessKey: "ak", SecretKey: secret, Endpoint: "http://127.0.0.1:9"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitSystemBackup(ctx, "s1", func(sb api.SystemBackup) bool { return sb.Status.State == api.SystemBackupStateReady }); err != nil {
		t.Fatal(err)
	}
	b, err := c.SystemBackupBundle(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, bt := range b.BackupTargets {
		if bt.Name == "s3t" {
			found = bt.Spec.Credential != nil && bt.Spec.Credential.HasSecret && bt.Spec.Credential.SecretKey == ""
		}
	}
	if !found {
		t.Fatalf("bundle targets %+v: want s3t with hasSecret and no secret key", b.BackupTargets)
	}
	if err := c.DeleteBackupTarget(ctx, "s3t"); err != nil {
		t.Fatal(err)
	}
	restore := func(name string, secrets map[string]string) api.SystemRestore {
		t.Helper()
		if _, err := c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: name, SystemBackup: "s1", TargetSecrets: secrets}); err != nil {
			t.Fatal(err)
		}
		sr, err := c.WaitSystemRestore(ctx, name, func(sr api.SystemRestore) bool { return !systemRestoreRunning(sr) })
		if err != nil {
			t.Fatal(err)
		}
		return sr
	}
	sr := restore("r1", nil)
	if sr.Status.State != api.SystemRestoreStateError || !strings.Contains(sr.Status.Error, "targetSecrets") {
		t.Fatalf("restore without the secret: %+v; want Error naming targetSecrets", sr.Status)
	}
	sr = restore("r2", map[string]string{"s3t": secret})
	if sr.Status.State != api.SystemRestoreStateCompleted {
		t.Fatalf("restore with the secret: %+v", sr.Status)
	}
	acc, err := tm.m.ctrl.targetAccess("s3t")
	if err != nil || acc.SecretKey != secret || acc.AccessKey != "ak" {
		t.Fatalf("re-created target access %+v, %v; want the given secret", acc, err)
	}
	err = tm.m.store.View(func(tx *Tx) error {
		for _, r := range []string{"r1", "r2"} {
			if s, err := tx.secret(restoreSecretKey(r, "s3t")); err != nil || s != "" {
				t.Errorf("restore %s left its secret behind (%v)", r, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSystemRestore(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
}
