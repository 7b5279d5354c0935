package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// runUnreachable runs an admin command against a manager address that
// answers no one: a command-line mistake exits 2 before anything is sent,
// while any request would exit 1.
func runUnreachable(resource string, verbs map[string]adminVerb, args ...string) (int, string) {
	var out, errb terminalBuffer // progress shows, as to a person
	code := runAdmin(resource, verbs, append(args, "--manager", "http://127.0.0.1:1", "--timeout", "2s"), &out, &errb)
	return code, errb.String()
}

func TestSystemBackupAdminUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage: refengine system-backup <verb>"},
		{[]string{"create"}, 2, "want 1 argument(s) (NAME)"},
		{[]string{"create", "sb1", "--policy", "sometimes"}, 2, `--policy "sometimes": want if-not-present, always, disabled`},
		{[]string{"create", "sb1", "--policy", "Always"}, 2, `--policy "Always"`},
		{[]string{"create", "sb1", "--wait=maybe"}, 2, "invalid boolean"},
		{[]string{"list", "sb1"}, 2, "want 0 argument(s)"},
		{[]string{"get"}, 2, "want 1 argument(s) (NAME)"},
		{[]string{"bundle", "a", "b"}, 2, "want 1 argument(s) (NAME)"},
		{[]string{"delete"}, 2, "want 1 argument(s) (NAME)"},
		{[]string{"create", "--help"}, 0, "if-not-present (default"},
		{[]string{"bundle", "--help"}, 0, "as JSON whatever --output says"},
		// A well-formed command reaches for the manager: exit 1.
		{[]string{"create", "sb1", "--policy", "disabled"}, 1, "connect"},
	}
	for _, tt := range tests {
		code, stderr := runUnreachable("system-backup", systemBackupVerbs(), tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.msg)
		}
		if tt.code == 2 && !strings.Contains(stderr, "usage: refengine system-backup") {
			t.Errorf("%v: no usage in %q", tt.args, stderr)
		}
	}
}

func TestSystemBackupCreateRequest(t *testing.T) {
	// Without --policy none is sent: the manager's default applies.
	f, url := newFakeManager(t, map[string][]string{
		"POST /v1/systembackups": {`201 {"name":"sb1","spec":{"volumeBackupPolicy":"if-not-present"},"status":{"state":""}}`},
	})
	code, out, stderr := runFake(url, "system-backup", systemBackupVerbs(), "create", "sb1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if r := f.requests("POST"); len(r) != 1 || r[0] != `POST /v1/systembackups {"name":"sb1"}` {
		t.Fatalf("sent %q", r)
	}
	rows := columns(out)
	if len(rows) != 2 || strings.Join(rows[0], " ") != "NAME POLICY STATE VOLUMES VERSION CREATED ERROR" ||
		strings.Join(rows[1], " ") != "sb1 if-not-present - 0 - - -" {
		t.Fatalf("table:\n%s", out)
	}

	for _, policy := range volumeBackupPolicies {
		f, url := newFakeManager(t, map[string][]string{"POST /v1/systembackups": {`201 {"name":"sb1"}`}})
		if code, _, stderr := runFake(url, "system-backup", systemBackupVerbs(), "create", "sb1", "--policy", policy); code != 0 {
			t.Fatalf("--policy %s: exit %d: %s", policy, code, stderr)
		}
		var req api.SystemBackupCreateRequest
		if f.body(t, "POST /v1/systembackups ", &req); req != (api.SystemBackupCreateRequest{Name: "sb1", VolumeBackupPolicy: policy}) {
			t.Fatalf("--policy %s: sent %+v", policy, req)
		}
	}

	// A refusal is one line and exit 1; nothing is waited for.
	f, url = newFakeManager(t, map[string][]string{
		"POST /v1/systembackups": {`409 {"code":409,"message":"system backup \"sb1\" already exists"}`},
	})
	code, out, stderr = runFake(url, "system-backup", systemBackupVerbs(), "create", "sb1", "--wait")
	if code != 1 || out != "" || strings.TrimSpace(stderr) != `refengine system-backup create: 409 Conflict: system backup "sb1" already exists` || len(f.requests("GET")) != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q, requests %q", code, out, stderr, f.seen)
	}
}

// --wait prints each state and each change in a volume's part once, in
// order, and exits 1 with the error on Error.
func TestSystemBackupCreateWait(t *testing.T) {
	const (
		volA   = `{"volume":"vol-a","backupTargetName":"default","backup":"sb-a"}`
		volB0  = `{"volume":"vol-b","backupTargetName":"extra","maintenanceNode":"node-1"}`
		volB1  = `{"volume":"vol-b","backupTargetName":"extra","backup":"sb-b","maintenanceNode":"node-1"}`
		volB2  = `{"volume":"vol-b","backupTargetName":"extra","backup":"sb-b","maintenanceNode":"node-1","detached":true}`
		volE   = `{"volume":"vol-e","backupTargetName":"default","skipped":"standby"}`
		prefix = "system backup sb1: "
	)
	state := func(s string, vols ...string) string {
		return `200 {"name":"sb1","status":{"state":"` + s + `","volumes":[` + strings.Join(vols, ",") + `]}}`
	}
	tests := []struct {
		name  string
		gets  []string
		code  int
		lines []string
	}{
		{"ready", []string{
			state(""),
			state("VolumeBackup", volA, volB0, volE),
			state("VolumeBackup", volA, volB1, volE),
			state("VolumeBackup", volA, volB1, volE),
			state("BackingImageBackup", volA, volB2, volE),
			state("Generating", volA, volB2, volE),
			`200 {"name":"sb1","status":{"state":"Uploading","error":"system backup sb1: default target: unreachable","volumes":[` + volA + `]}}`,
			state("Uploading", volA, volB2, volE),
			state("Ready", volA, volB2, volE),
		}, 0, []string{
			"not started",
			"VolumeBackup",
			"volume vol-a: backup sb-a on target default",
			"volume vol-b: waiting for its backup on target extra, attached to node-1 for it",
			"volume vol-e: skipped (standby)",
			"volume vol-b: backup sb-b on target extra, attached to node-1 for it",
			"BackingImageBackup",
			"volume vol-b: backup sb-b on target extra, attached to node-1 for it, detached again",
			"Generating",
			"Uploading",
			"Uploading: retrying: system backup sb1: default target: unreachable",
			"Ready",
		}},
		{"error", []string{
			state("VolumeBackup", volA),
			`200 {"name":"sb1","status":{"state":"Error","error":"backup sb-a of volume vol-a failed: target unreachable","volumes":[` + volA + `]}}`,
		}, 1, []string{
			"VolumeBackup",
			"volume vol-a: backup sb-a on target default",
			"Error",
			"!refengine system-backup create: system backup sb1 failed: backup sb-a of volume vol-a failed: target unreachable",
		}},
		{"deleted meanwhile", []string{
			state("Generating"),
			`404 {"code":404,"message":"system backup \"sb1\" not found"}`,
		}, 1, []string{"Generating", "gone", "!refengine system-backup create: system backup sb1 was deleted before it was Ready"}},
	}
	for _, tt := range tests {
		for _, output := range []string{"table", "json"} {
			t.Run(tt.name+" "+output, func(t *testing.T) {
				f, url := newFakeManager(t, map[string][]string{
					"POST /v1/systembackups":    {`201 {"name":"sb1","status":{"state":""}}`},
					"GET /v1/systembackups/sb1": tt.gets,
				})
				code, out, stderr := runFake(url, "system-backup", systemBackupVerbs(), "create", "sb1", "--wait", "--output", output)
				var want []string
				for _, l := range tt.lines {
					if s, ok := strings.CutPrefix(l, "!"); ok {
						want = append(want, s)
					} else {
						want = append(want, prefix+l)
					}
				}
				want = progressFor(output, want)
				if code != tt.code || strings.TrimSpace(stderr) != strings.Join(want, "\n") {
					t.Fatalf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, stderr, tt.code, strings.Join(want, "\n"))
				}
				if gets := f.requests("GET /v1/systembackups/sb1"); len(gets) != len(tt.gets) {
					t.Errorf("%d GETs, want %d: it stopped early or polled past the end", len(gets), len(tt.gets))
				}
				var b api.SystemBackup
				if output == "json" && tt.code == 0 && (json.Unmarshal([]byte(out), &b) != nil || b.Status.State != api.SystemBackupStateReady || len(b.Status.Volumes) != 3) {
					t.Errorf("stdout %q: want the ready system backup", out)
				}
				if output == "json" && tt.code != 0 && out != "" {
					t.Errorf("stdout %q after a failure", out)
				}
			})
		}
	}
}

func TestSystemBackupDelete(t *testing.T) {
	f, url := newFakeManager(t, map[string][]string{
		"DELETE /v1/systembackups/sb1": {`202 {"name":"sb1","spec":{"deleting":true},"status":{"state":"Error","error":"volume backups not done"}}`},
		"GET /v1/systembackups/sb1": {
			`200 {"name":"sb1","spec":{"deleting":true},"status":{"state":"Error","error":"volume backups not done"}}`,
			`200 {"name":"sb1","spec":{"deleting":true},"status":{"state":"Error","error":"delete bundle: default target unreachable"}}`,
			`200 {"name":"sb1","spec":{"deleting":true},"status":{"state":"Error","error":"delete bundle: default target unreachable"}}`,
			`404 {"code":404,"message":"system backup \"sb1\" not found"}`,
		},
	})
	// The failure it had before is not the deletion's; a new error is.
	code, out, stderr := runFake(url, "system-backup", systemBackupVerbs(), "delete", "sb1", "--wait")
	if code != 0 || out != "" || strings.TrimSpace(stderr) != "system backup sb1: deleting: delete bundle: default target unreachable" ||
		len(f.requests("GET /v1/systembackups/sb1")) != 4 {
		t.Fatalf("exit %d, stdout %q, stderr %q, requests %q", code, out, stderr, f.seen)
	}

	// Without --wait: the object as the manager answered, marked deleting.
	f, url = newFakeManager(t, map[string][]string{
		"DELETE /v1/systembackups/sb1": {`202 {"name":"sb1","spec":{"volumeBackupPolicy":"always","deleting":true},"status":{"state":"Ready"}}`},
	})
	code, out, stderr = runFake(url, "system-backup", systemBackupVerbs(), "delete", "sb1")
	if rows := columns(out); code != 0 || len(rows) != 2 || strings.Join(rows[1], " ") != "sb1 always Ready(deleting) 0 - - -" || len(f.requests("GET")) != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
}

func TestSystemBackupGetListBundle(t *testing.T) {
	bundle := api.SystemBackupBundle{
		Name: "sb1", Version: "v0.3.0",
		Volumes:       []api.Volume{{Name: "vol-a", Spec: api.VolumeSpec{Size: 64 << 20, NumberOfReplicas: 3, BackupTargetName: "default"}, Status: api.VolumeStatus{LastBackup: "sb-a"}}},
		BackingImages: []api.BackingImage{}, EngineImages: []api.EngineImage{},
		BackupTargets: []api.BackupTarget{{Name: "extra", Spec: api.BackupTargetSpec{URL: "s3://b@us-east-1/p", Credential: &api.BackupTargetCredential{AccessKey: "ak", HasSecret: true}}}},
		Settings:      map[string]string{"a&b": "<x>"},
	}
	bundleJSON, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	sb := `{"name":"sb1","spec":{"volumeBackupPolicy":"if-not-present"},"status":{"state":"Ready","version":"v0.3.0","url":"file:///t/system-backups/sb1/","volumes":[` +
		`{"volume":"vol-a","backupTargetName":"default","backup":"sb-a"},` +
		`{"volume":"vol-b","backupTargetName":"extra","backup":"sb-b","maintenanceNode":"node-1","detached":true},` +
		`{"volume":"vol-e","backupTargetName":"default","skipped":"standby"}]}}`
	f, url := newFakeManager(t, map[string][]string{
		"GET /v1/systembackups/sb1":        {"200 " + sb},
		"GET /v1/systembackups":            {"200 [" + sb + `,{"name":"sb2","spec":{"volumeBackupPolicy":"disabled"},"status":{"state":"Error","error":"default target unreachable"}}]`},
		"GET /v1/systembackups/sb1/bundle": {"200 " + string(bundleJSON)},
		"GET /v1/systembackups/sb2/bundle": {`409 {"code":409,"message":"system backup sb2 is Error, not Ready"}`},
	})

	code, out, stderr := runFake(url, "system-backup", systemBackupVerbs(), "get", "sb1")
	want := [][]string{
		{"NAME", "POLICY", "STATE", "VOLUMES", "VERSION", "CREATED", "ERROR"},
		{"sb1", "if-not-present", "Ready", "3", "v0.3.0", "-", "-"},
		{"VOLUME", "TARGET", "BACKUP", "SKIPPED", "MAINTENANCE-NODE", "DETACHED"},
		{"vol-a", "default", "sb-a", "-", "-", "-"},
		{"vol-b", "extra", "sb-b", "-", "node-1", "true"},
		{"vol-e", "default", "-", "standby", "-", "-"},
	}
	if got := columns(strings.Replace(out, "\n\n", "\n", 1)); code != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("get: exit %d: %s\n%s", code, stderr, out)
	}

	code, out, stderr = runFake(url, "system-backup", systemBackupVerbs(), "list")
	rows := columns(out)
	if code != 0 || len(rows) != 3 || strings.Join(rows[1], " ") != "sb1 if-not-present Ready 3 v0.3.0 - -" ||
		strings.Join(rows[2], " ") != "sb2 disabled Error 0 - - default target unreachable" {
		t.Fatalf("list: exit %d: %s\n%s", code, stderr, out)
	}

	// The bundle is JSON whatever --output says.
	for _, output := range []string{"table", "json"} {
		code, out, stderr = runFake(url, "system-backup", systemBackupVerbs(), "bundle", "sb1", "--output", output)
		var got api.SystemBackupBundle
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil || !reflect.DeepEqual(got, bundle) {
			t.Fatalf("bundle --output %s: exit %d: %s\n%s", output, code, stderr, out)
		}
	}
	code, out, stderr = runFake(url, "system-backup", systemBackupVerbs(), "bundle", "sb2")
	if code != 1 || out != "" || !strings.Contains(stderr, "409 Conflict: system backup sb2 is Error, not Ready") {
		t.Fatalf("bundle of a failed system backup: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if n := len(f.requests("GET /v1/systembackups/sb1/bundle")); n != 2 {
		t.Fatalf("%d bundle reads, want 2", n)
	}
}
