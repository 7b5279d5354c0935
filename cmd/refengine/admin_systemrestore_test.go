package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// Mistakes in the command line, --target-secret's among them, exit 2 and
// send nothing; no message repeats a secret key.
func TestSystemRestoreAdminUsageErrors(t *testing.T) {
	dir := t.TempDir()
	keyFile, emptyFile := filepath.Join(dir, "key"), filepath.Join(dir, "empty")
	if err := os.WriteFile(keyFile, []byte("sekrit-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	create := func(extra ...string) []string { return append([]string{"create", "r1", "--from", "sb1"}, extra...) }
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage: refengine system-restore <verb>"},
		{[]string{"create", "--from", "sb1"}, 2, "want 1 argument(s) (NAME)"},
		{[]string{"create", "r1"}, 2, "--from is required"},
		{create("--target-secret", "sekrit"), 2, "--target-secret: want TARGET=SECRETKEY with both parts set"},
		{create("--target-secret", "=sekrit"), 2, "--target-secret: want TARGET=SECRETKEY"},
		{create("--target-secret", "extra="), 2, "--target-secret: want TARGET=SECRETKEY"},
		{create("--target-secret", "Extra=sekrit"), 2, `--target-secret: backup target name "Extra" is invalid`},
		{create("--target-secret", "extra=sekrit1", "--target-secret", "extra=sekrit2"), 2, "--target-secret: target extra given twice"},
		{create("--target-secret", "extra=sekrit", "--target-secret-file", "extra="+keyFile), 2, "--target-secret-file: target extra given twice"},
		{create("--target-secret-file", keyFile), 2, "--target-secret-file: want TARGET=FILE"},
		{create("--target-secret-file", "extra=/nonexistent/key"), 2, "--target-secret-file: target extra: open /nonexistent/key"},
		{create("--target-secret-file", "extra="+emptyFile), 2, "--target-secret-file: target extra: the secret key is empty"},
		{[]string{"list", "r1"}, 2, "want 0 argument(s)"},
		{[]string{"get"}, 2, "want 1 argument(s) (NAME)"},
		{[]string{"delete", "r1", "--wait"}, 2, "flag provided but not defined: -wait"},
		{[]string{"create", "--help"}, 0, "prefer --target-secret-file"},
		// Well formed: it reaches for the manager, exit 1.
		{create("--target-secret", "extra=sekrit", "--target-secret-file", "s3="+keyFile), 1, "connect"},
	}
	for _, tt := range tests {
		code, stderr := runUnreachable("system-restore", systemRestoreVerbs(), tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.msg)
		}
		if tt.code == 2 && !strings.Contains(stderr, "usage: refengine system-restore") {
			t.Errorf("%v: no usage in %q", tt.args, stderr)
		}
		if strings.Contains(stderr, "sekrit") {
			t.Errorf("%v: stderr repeats a secret key: %q", tt.args, stderr)
		}
	}
}

func TestSystemRestoreCreateRequest(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	answer := `201 {"name":"r1","spec":{"systemBackup":"sb1"},"status":{"state":"Pending"}}`
	f, url := newFakeManager(t, map[string][]string{"POST /v1/systemrestores": {answer}})
	code, out, stderr := runFake(url, "system-restore", systemRestoreVerbs(), "create", "r1", "--from", "sb1",
		"--target-secret", "extra=a=b", "--target-secret-file", "s3="+keyFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var req api.SystemRestoreCreateRequest
	f.body(t, "POST /v1/systemrestores ", &req)
	want := api.SystemRestoreCreateRequest{Name: "r1", SystemBackup: "sb1", TargetSecrets: map[string]string{"extra": "a=b", "s3": "from-file"}}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("sent %+v, want %+v", req, want)
	}
	rows := columns(out)
	if len(rows) != 2 || strings.Join(rows[0], " ") != "NAME SYSTEM-BACKUP STATE OBJECTS STARTED COMPLETED ERROR" ||
		strings.Join(rows[1], " ") != "r1 sb1 Pending 0 - - -" {
		t.Fatalf("table:\n%s", out)
	}

	// No secret flags: no targetSecrets at all.
	f, url = newFakeManager(t, map[string][]string{"POST /v1/systemrestores": {answer}})
	if code, _, stderr := runFake(url, "system-restore", systemRestoreVerbs(), "create", "r1", "--from", "sb1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if r := f.requests("POST"); len(r) != 1 || r[0] != `POST /v1/systemrestores {"name":"r1","systemBackup":"sb1"}` {
		t.Fatalf("sent %q", r)
	}

	// The manager's refusals are final: one line, exit 1, no wait.
	for _, refusal := range []string{
		`404 {"code":404,"message":"system backup \"sb1\" not found"}`,
		`409 {"code":409,"message":"system backup sb1 is Uploading, not Ready"}`,
		`409 {"code":409,"message":"system restore r0 is running"}`,
	} {
		f, url := newFakeManager(t, map[string][]string{"POST /v1/systemrestores": {refusal}})
		code, out, stderr := runFake(url, "system-restore", systemRestoreVerbs(), "create", "r1", "--from", "sb1", "--wait")
		_, msg, _ := strings.Cut(refusal, `"message":"`)
		msg = strings.ReplaceAll(strings.TrimSuffix(msg, `"}`), `\"`, `"`)
		if code != 1 || out != "" || !strings.Contains(stderr, msg) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || len(f.requests("GET")) != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q, requests %q", refusal, code, out, stderr, f.seen)
		}
	}
}

// --wait prints each state and each object once, in order, and exits 1
// with the error on Error.
func TestSystemRestoreCreateWait(t *testing.T) {
	const (
		target = `{"kind":"backupTarget","name":"extra","action":"created"}`
		image  = `{"kind":"backingImage","name":"bi1","action":"unchanged"}`
		volA   = `{"kind":"volume","name":"vol-a","action":"created","reason":"from file:///t?backup=sb-a\u0026volume=vol-a"}`
		volC   = `{"kind":"volume","name":"vol-c","action":"skipped","reason":"attached"}`
	)
	state := func(s string, objs ...string) string {
		return `200 {"name":"r1","spec":{"systemBackup":"sb1"},"status":{"state":"` + s + `","objects":[` + strings.Join(objs, ",") + `]}}`
	}
	tests := []struct {
		name  string
		gets  []string
		code  int
		lines []string
	}{
		{"completed", []string{
			state("Pending"),
			state("Downloading"),
			`200 {"name":"r1","status":{"state":"Downloading","error":"system backup sb1: default target: unreachable"}}`,
			state("Restoring", target),
			state("Restoring", target, image, volA),
			state("Completed", target, image, volA, volC),
		}, 0, []string{
			"Pending",
			"Downloading",
			"Downloading: retrying: system backup sb1: default target: unreachable",
			"Restoring",
			"backupTarget extra created",
			"backingImage bi1 unchanged",
			"volume vol-a created (from file:///t?backup=sb-a&volume=vol-a)",
			"volume vol-c skipped (attached)",
			"Completed",
		}},
		{"error", []string{
			state("Restoring"),
			`200 {"name":"r1","status":{"state":"Error","error":"backup target s3 needs a secret key: give targetSecrets[s3]"}}`,
		}, 1, []string{"Restoring", "Error", "!refengine system-restore create: system restore r1 failed: backup target s3 needs a secret key: give targetSecrets[s3]"}},
		{"deleted meanwhile", []string{
			state("Downloading"),
			`404 {"code":404,"message":"system restore \"r1\" not found"}`,
		}, 1, []string{"Downloading", "gone", "!refengine system-restore create: system restore r1 was deleted before it completed"}},
	}
	for _, tt := range tests {
		for _, output := range []string{"table", "json"} {
			t.Run(tt.name+" "+output, func(t *testing.T) {
				f, url := newFakeManager(t, map[string][]string{
					"POST /v1/systemrestores":   {`201 {"name":"r1","spec":{"systemBackup":"sb1"},"status":{"state":"Pending"}}`},
					"GET /v1/systemrestores/r1": tt.gets,
				})
				code, out, stderr := runFake(url, "system-restore", systemRestoreVerbs(), "create", "r1", "--from", "sb1", "--wait", "--output", output)
				var want []string
				for _, l := range tt.lines {
					if s, ok := strings.CutPrefix(l, "!"); ok {
						want = append(want, s)
					} else {
						want = append(want, "system restore r1: "+l)
					}
				}
				want = progressFor(output, want)
				if code != tt.code || strings.TrimSpace(stderr) != strings.Join(want, "\n") {
					t.Fatalf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, stderr, tt.code, strings.Join(want, "\n"))
				}
				if gets := f.requests("GET /v1/systemrestores/r1"); len(gets) != len(tt.gets) {
					t.Errorf("%d GETs, want %d: it stopped early or polled past the end", len(gets), len(tt.gets))
				}
				var r api.SystemRestore
				if output == "json" && tt.code == 0 && (json.Unmarshal([]byte(out), &r) != nil || r.Status.State != api.SystemRestoreStateCompleted || len(r.Status.Objects) != 4) {
					t.Errorf("stdout %q: want the completed system restore", out)
				}
			})
		}
	}
}

func TestSystemRestoreGetListDelete(t *testing.T) {
	r1 := `{"name":"r1","spec":{"systemBackup":"sb1"},"status":{"state":"Completed","objects":[` +
		`{"kind":"backupTarget","name":"extra","action":"created"},{"kind":"volume","name":"vol-a","action":"updated","reason":"numberOfReplicas 2"}]}}`
	f, url := newFakeManager(t, map[string][]string{
		"GET /v1/systemrestores/r1":    {"200 " + r1},
		"GET /v1/systemrestores":       {"200 [" + r1 + `,{"name":"r2","spec":{"systemBackup":"sb2"},"status":{"state":"Restoring"}}]`},
		"DELETE /v1/systemrestores/r1": {"204 "},
		"DELETE /v1/systemrestores/r2": {`409 {"code":409,"message":"system restore r2 is running"}`},
	})
	code, out, stderr := runFake(url, "system-restore", systemRestoreVerbs(), "get", "r1")
	want := [][]string{
		{"NAME", "SYSTEM-BACKUP", "STATE", "OBJECTS", "STARTED", "COMPLETED", "ERROR"},
		{"r1", "sb1", "Completed", "2", "-", "-", "-"},
		{"KIND", "NAME", "ACTION", "REASON"},
		{"backupTarget", "extra", "created", "-"},
		{"volume", "vol-a", "updated", "numberOfReplicas", "2"},
	}
	if got := columns(strings.Replace(out, "\n\n", "\n", 1)); code != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("get: exit %d: %s\n%s", code, stderr, out)
	}
	code, out, stderr = runFake(url, "system-restore", systemRestoreVerbs(), "list")
	if rows := columns(out); code != 0 || len(rows) != 3 || strings.Join(rows[2], " ") != "r2 sb2 Restoring 0 - - -" {
		t.Fatalf("list: exit %d: %s\n%s", code, stderr, out)
	}
	if code, out, stderr := runFake(url, "system-restore", systemRestoreVerbs(), "delete", "r1"); code != 0 || out != "" || stderr != "" {
		t.Fatalf("delete: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if code, _, stderr := runFake(url, "system-restore", systemRestoreVerbs(), "delete", "r2"); code != 1 || !strings.Contains(stderr, "409 Conflict: system restore r2 is running") {
		t.Fatalf("delete a running one: exit %d: %s", code, stderr)
	}
	if d := f.requests("DELETE"); len(d) != 2 {
		t.Fatalf("deletes %q", d)
	}
}
