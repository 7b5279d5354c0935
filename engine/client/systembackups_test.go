package client

import (
	"context"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// Each system backup and restore method sends the route and body the
// manager serves, and decodes the answer.
func TestSystemBackupRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func(c *Client) (any, error)
		answer string
		want   recorded
		check  func(got any) bool
	}{
		{
			"create",
			func(c *Client) (any, error) {
				return c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: "sb1", VolumeBackupPolicy: api.VolumeBackupPolicyAlways})
			},
			`201 {"name":"sb1","spec":{"volumeBackupPolicy":"always"},"status":{"state":""}}`,
			recorded{"POST", "/v1/systembackups", `{"name":"sb1","volumeBackupPolicy":"always"}`},
			func(got any) bool {
				b := got.(api.SystemBackup)
				return b.Name == "sb1" && b.Spec.VolumeBackupPolicy == api.VolumeBackupPolicyAlways && b.Status.State == api.SystemBackupStateNone
			},
		},
		{
			"create with the default policy",
			func(c *Client) (any, error) {
				return c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: "sb1"})
			},
			`201 {"name":"sb1","spec":{"volumeBackupPolicy":"if-not-present"}}`,
			recorded{"POST", "/v1/systembackups", `{"name":"sb1"}`},
			func(got any) bool {
				return got.(api.SystemBackup).Spec.VolumeBackupPolicy == api.VolumeBackupPolicyIfNotPresent
			},
		},
		{
			"get escapes the name",
			func(c *Client) (any, error) { return c.GetSystemBackup(ctx, "a/b") },
			`200 {"name":"a/b","status":{"state":"Ready","volumes":[{"volume":"vol-a","backupTargetName":"extra","backup":"sb-a"}]}}`,
			recorded{"GET", "/v1/systembackups/a%2Fb", ""},
			func(got any) bool {
				b := got.(api.SystemBackup)
				return b.Status.State == api.SystemBackupStateReady && len(b.Status.Volumes) == 1 && b.Status.Volumes[0].BackupTargetName == "extra"
			},
		},
		{
			"list",
			func(c *Client) (any, error) { return c.ListSystemBackups(ctx) },
			`200 [{"name":"sb1"},{"name":"sb2"}]`,
			recorded{"GET", "/v1/systembackups", ""},
			func(got any) bool { return len(got.([]api.SystemBackup)) == 2 },
		},
		{
			"delete",
			func(c *Client) (any, error) { return c.DeleteSystemBackup(ctx, "sb1") },
			`202 {"name":"sb1","spec":{"deleting":true},"status":{"state":"Ready"}}`,
			recorded{"DELETE", "/v1/systembackups/sb1", ""},
			func(got any) bool { return got.(api.SystemBackup).Spec.Deleting },
		},
		{
			"bundle",
			func(c *Client) (any, error) { return c.SystemBackupBundle(ctx, "sb1") },
			`200 {"name":"sb1","version":"v1","createdAt":"2026-11-30T06:00:00Z","volumes":[{"name":"vol-a","spec":{"size":1048576,"numberOfReplicas":2,"frontend":"nbd","backupTargetName":"extra"},"status":{"state":"attached","robustness":"healthy","lastBackup":"sb-a"}}],` +
				`"backingImages":[],"engineImages":[],"backupTargets":[{"name":"extra","spec":{"url":"s3://b@r/p","pollInterval":"5m0s","credential":{"accessKey":"ak","hasSecret":true}},"status":{"available":true}}],"settings":{"k":"v"}}`,
			recorded{"GET", "/v1/systembackups/sb1/bundle", ""},
			func(got any) bool {
				b := got.(api.SystemBackupBundle)
				return b.Name == "sb1" && !b.CreatedAt.IsZero() && len(b.Volumes) == 1 && b.Volumes[0].Status.LastBackup == "sb-a" &&
					len(b.BackupTargets) == 1 && b.BackupTargets[0].Spec.Credential.HasSecret && b.Settings["k"] == "v"
			},
		},
		{
			"create a restore",
			func(c *Client) (any, error) {
				return c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: "r1", SystemBackup: "sb1", TargetSecrets: map[string]string{"extra": "sekrit"}})
			},
			`201 {"name":"r1","spec":{"systemBackup":"sb1"},"status":{"state":"Pending"}}`,
			recorded{"POST", "/v1/systemrestores", `{"name":"r1","systemBackup":"sb1","targetSecrets":{"extra":"sekrit"}}`},
			func(got any) bool {
				r := got.(api.SystemRestore)
				return r.Spec.SystemBackup == "sb1" && r.Status.State == api.SystemRestoreStatePending
			},
		},
		{
			"create a restore without secrets",
			func(c *Client) (any, error) {
				return c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: "r1", SystemBackup: "sb1"})
			},
			`201 {"name":"r1"}`,
			recorded{"POST", "/v1/systemrestores", `{"name":"r1","systemBackup":"sb1"}`},
			func(got any) bool { return got.(api.SystemRestore).Name == "r1" },
		},
		{
			"get a restore",
			func(c *Client) (any, error) { return c.GetSystemRestore(ctx, "r1") },
			`200 {"name":"r1","status":{"state":"Completed","objects":[{"kind":"volume","name":"vol-a","action":"created","reason":"from b"}]}}`,
			recorded{"GET", "/v1/systemrestores/r1", ""},
			func(got any) bool {
				r := got.(api.SystemRestore)
				return len(r.Status.Objects) == 1 && r.Status.Objects[0].Action == api.RestoreActionCreated
			},
		},
		{
			"list restores",
			func(c *Client) (any, error) { return c.ListSystemRestores(ctx) },
			`200 [{"name":"r1"}]`,
			recorded{"GET", "/v1/systemrestores", ""},
			func(got any) bool { return len(got.([]api.SystemRestore)) == 1 },
		},
		{
			"delete a restore",
			func(c *Client) (any, error) { return nil, c.DeleteSystemRestore(ctx, "r 1") },
			`204 `,
			recorded{"DELETE", "/v1/systemrestores/r%201", ""},
			func(got any) bool { return true },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, seen := recorder(t, tt.answer)
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(*seen) != 1 || (*seen)[0] != tt.want {
				t.Fatalf("requests %q, want one %q", *seen, tt.want)
			}
			if !tt.check(got) {
				t.Fatalf("decoded %+v", got)
			}
		})
	}
}

// Refusals come back as *api.Error with the manager's code.
func TestSystemBackupRefusals(t *testing.T) {
	ctx := context.Background()
	c, _ := recorder(t,
		`409 {"code":409,"message":"system backup sb1 is VolumeBackup, not Ready"}`,
		`409 {"code":409,"message":"system restore r0 is running"}`,
		`404 {"code":404,"message":"system backup \"nosuch\" not found"}`,
	)
	if _, err := c.SystemBackupBundle(ctx, "sb1"); !api.IsCode(err, 409) || !strings.Contains(err.Error(), "not Ready") {
		t.Errorf("bundle of a running system backup: %v", err)
	}
	if err := c.DeleteSystemRestore(ctx, "r0"); !api.IsCode(err, 409) {
		t.Errorf("delete a running restore: %v", err)
	}
	if _, err := c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: "r1", SystemBackup: "nosuch"}); !api.IsNotFound(err) {
		t.Errorf("restore of a missing system backup: %v", err)
	}
}

// The waits follow the object until their condition holds, on the change
// stream when there is one (here none: the first answer refuses it).
func TestWaitSystemBackupAndRestore(t *testing.T) {
	c, seen := recorder(t,
		`404 {"code":404,"message":"no events here"}`,
		`200 {"name":"sb1","status":{"state":"VolumeBackup"}}`,
		`200 {"name":"sb1","status":{"state":"Ready"}}`,
	)
	b, err := c.WaitSystemBackup(context.Background(), "sb1", func(b api.SystemBackup) bool { return b.Status.State == api.SystemBackupStateReady })
	if err != nil || b.Status.State != api.SystemBackupStateReady || len(*seen) != 3 || (*seen)[2].uri != "/v1/systembackups/sb1" {
		t.Fatalf("WaitSystemBackup: %+v %v after %q", b, err, *seen)
	}

	c, seen = recorder(t,
		`404 {}`,
		`200 {"name":"r1","status":{"state":"Restoring"}}`,
		`404 {"code":404,"message":"system restore \"r1\" not found"}`,
	)
	r, err := c.WaitSystemRestore(context.Background(), "r1", func(r api.SystemRestore) bool { return r.Name == "" })
	if err != nil || r.Name != "" || len(*seen) != 3 || (*seen)[2].uri != "/v1/systemrestores/r1" {
		t.Fatalf("WaitSystemRestore: %+v %v after %q", r, err, *seen)
	}
}
