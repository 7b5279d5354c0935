package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// Command-line mistakes exit 2 with usage and send nothing: the manager
// address answers no one, so any request would exit 1 instead.
func TestBackupAdminUsageErrors(t *testing.T) {
	const url = "file:///backups?backup=b1&volume=vol1"
	tests := []struct {
		resource string
		args     []string
		code     int
		msg      string
	}{
		{"backup", nil, 2, "usage: refengine backup <verb>"},
		{"backup", []string{"create"}, 2, "want 1 argument(s) (VOLUME)"},
		{"backup", []string{"create", "vol1", "--label", "novalue"}, 2, "want KEY=VALUE"},
		{"backup", []string{"create", "vol1", "--label", "=v"}, 2, "want KEY=VALUE"},
		{"backup", []string{"create", "vol1", "--label", "k=a", "--label", "k=b"}, 2, "given twice"},
		{"backup", []string{"create", "vol1", "--compression", "zstd"}, 2, `--compression "zstd"`},
		{"backup", []string{"list", "vol1"}, 2, "want 0 argument(s)"},
		{"backup", []string{"get"}, 2, "want 1 argument(s) (NAME)"},
		{"backup", []string{"delete", "a", "b"}, 2, "want 1 argument(s)"},
		{"backup", []string{"create", "--help"}, 0, "printing progress to stderr"},
		{"backup-volume", []string{"sync"}, 2, "want 1 argument(s) (NAME)"},
		{"backup-volume", []string{"list", "--sync=maybe"}, 2, "invalid boolean"},
		{"volume", []string{"create", "dr1", "--size", "1G", "--standby"}, 2, "--standby needs --from-backup"},
		{"volume", []string{"create", "dr1", "--from-backup", url, "--standby", "--frontend", "nbd"}, 2, "a standby volume has no frontend"},
		{"volume", []string{"create", "dr1", "--size", "1G", "--from-backup", "file:///backups"}, 2, "--from-backup: backup URL"},
		{"volume", []string{"create", "dr1", "--from-backup", "s3://b@r/?volume=v"}, 2, "want <target url>?backup=NAME&volume=NAME"},
		{"volume", []string{"activate"}, 2, "want 1 argument(s) (NAME)"},
		{"volume", []string{"activate", "--help"}, 0, "hasn't finished incremental restored"},
	}
	verbs := map[string]map[string]adminVerb{"backup": backupVerbs(), "backup-volume": backupVolumeVerbs(), "volume": volumeVerbs()}
	for _, tt := range tests {
		var out, errb terminalBuffer // progress shows, as to a person
		code := runAdmin(tt.resource, verbs[tt.resource], append(tt.args, "--manager", "http://127.0.0.1:1", "--timeout", "2s"), &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.msg) {
			t.Errorf("%s %v: exit %d, stderr %q; want exit %d mentioning %q", tt.resource, tt.args, code, errb.String(), tt.code, tt.msg)
		}
		if tt.code == 2 && !strings.Contains(errb.String(), "usage: refengine "+tt.resource) {
			t.Errorf("%s %v: no usage in %q", tt.resource, tt.args, errb.String())
		}
	}
}

// fakeManager answers scripted requests and records every request. The
// manager's backup routes land in parallel with this CLI and cannot run
// backups without nodes; this checks what the CLI sends and how it follows
// the answers. Unscripted requests (the change stream among them) get 404.
type fakeManager struct {
	mu      sync.Mutex
	answers map[string][]string // "METHOD /uri" → "CODE BODY" in turn; the last repeats
	seen    []string            // "METHOD /uri BODY"
}

func newFakeManager(t *testing.T, answers map[string][]string) (*fakeManager, string) {
	f := &fakeManager{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	key := r.Method + " " + r.URL.RequestURI()
	f.mu.Lock()
	f.seen = append(f.seen, strings.TrimSpace(key+" "+body.String()))
	a := f.answers[key]
	answer := `404 {"code":404,"message":"no endpoint ` + key + `"}`
	if len(a) > 0 {
		answer = a[0]
		if len(a) > 1 {
			f.answers[key] = a[1:]
		}
	}
	f.mu.Unlock()
	code, b, _ := strings.Cut(answer, " ")
	n, _ := strconv.Atoi(code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(n)
	w.Write([]byte(b))
}

// requests returns the recorded requests that start with prefix.
func (f *fakeManager) requests(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r []string
	for _, s := range f.seen {
		if strings.HasPrefix(s, prefix) {
			r = append(r, s)
		}
	}
	return r
}

// body decodes the JSON body of the only request starting with prefix.
func (f *fakeManager) body(t *testing.T, prefix string, into any) {
	t.Helper()
	r := f.requests(prefix)
	if len(r) != 1 {
		t.Fatalf("requests %q: want exactly one %q", f.seen, prefix)
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(r[0], prefix)), into); err != nil {
		t.Fatalf("body of %q: %v", r[0], err)
	}
}

func runFake(url, resource string, verbs map[string]adminVerb, args ...string) (int, string, string) {
	var out, errb terminalBuffer // progress shows, as to a person
	code := runAdmin(resource, verbs, append(args, "--manager", url, "--timeout", "10s"), &out, &errb)
	return code, out.String(), errb.String()
}

// columns splits a table's lines into fields.
func columns(table string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(table), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func TestBackupCreateRequest(t *testing.T) {
	f, url := newFakeManager(t, map[string][]string{
		"POST /v1/backups": {`201 {"name":"b1","spec":{"volume":"vol1","snapshotName":"s1","backupTargetName":"default"},"status":{"state":"New"}}`},
	})
	code, out, stderr := runFake(url, "backup", backupVerbs(), "create", "vol1", "--name", "b1", "--snapshot", "s1",
		"--label", "app=db", "--label", "tier=gold=1", "--compression", "gzip")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var req api.BackupCreateRequest
	f.body(t, "POST /v1/backups ", &req)
	want := api.BackupCreateRequest{Name: "b1", Volume: "vol1", SnapshotName: "s1", Labels: map[string]string{"app": "db", "tier": "gold=1"}, Compression: "gzip"}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("sent %+v, want %+v", req, want)
	}
	rows := columns(out)
	if len(rows) != 2 || strings.Join(rows[0], " ") != "NAME VOLUME SNAPSHOT STATE PROGRESS SIZE UPLOADED TARGET" ||
		strings.Join(rows[1], " ") != "b1 vol1 s1 New 0% 0 0 default" {
		t.Fatalf("table:\n%s", out)
	}

	// Nothing optional given: nothing optional sent.
	f, url = newFakeManager(t, map[string][]string{"POST /v1/backups": {`201 {"name":"backup-x"}`}})
	if code, _, stderr := runFake(url, "backup", backupVerbs(), "create", "vol1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if r := f.requests("POST /v1/backups "); len(r) != 1 || r[0] != `POST /v1/backups {"volume":"vol1"}` {
		t.Fatalf("sent %q", r)
	}
}

// --wait follows the backup to its end: progress on stderr, exit 1 on Error.
func TestBackupCreateWait(t *testing.T) {
	tests := []struct {
		name  string
		gets  []string
		code  int
		lines []string
	}{
		{"completed", []string{
			`200 {"name":"b1","status":{"state":"New"}}`,
			`200 {"name":"b1","status":{"state":"InProgress","progress":50}}`,
			`200 {"name":"b1","status":{"state":"InProgress","progress":50}}`,
			`200 {"name":"b1","status":{"state":"Completed","progress":100,"size":8388608}}`,
		}, 0, []string{"backup b1: New 0%", "backup b1: InProgress 50%", "backup b1: Completed 100%"}},
		{"error", []string{
			`200 {"name":"b1","status":{"state":"InProgress","progress":10}}`,
			`200 {"name":"b1","status":{"state":"Error","progress":10,"error":"target unreachable: dial tcp: connection refused"}}`,
		}, 1, []string{"backup b1: InProgress 10%", "backup b1: Error 10%", "refengine backup create: backup b1 failed: target unreachable: dial tcp: connection refused"}},
		{"deleted meanwhile", []string{
			`200 {"name":"b1","status":{"state":"InProgress","progress":10}}`,
			`404 {"code":404,"message":"backup \"b1\" not found"}`,
		}, 1, []string{"backup b1: InProgress 10%", "backup b1: gone", "refengine backup create: backup b1 was deleted before it completed"}},
	}
	for _, tt := range tests {
		for _, output := range []string{"table", "json"} {
			t.Run(tt.name+" "+output, func(t *testing.T) {
				f, url := newFakeManager(t, map[string][]string{
					"POST /v1/backups":   {`201 {"name":"b1","status":{"state":"New"}}`},
					"GET /v1/backups/b1": tt.gets,
				})
				code, out, stderr := runFake(url, "backup", backupVerbs(), "create", "vol1", "--wait", "--output", output)
				want := progressFor(output, tt.lines)
				if code != tt.code || strings.TrimSpace(stderr) != strings.Join(want, "\n") {
					t.Fatalf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, stderr, tt.code, strings.Join(want, "\n"))
				}
				if gets := f.requests("GET /v1/backups/b1"); len(gets) != len(tt.gets) {
					t.Errorf("%d GETs, want %d: it stopped early or polled past the end", len(gets), len(tt.gets))
				}
				var b api.Backup
				if output == "json" && tt.code == 0 && (json.Unmarshal([]byte(out), &b) != nil || b.Status.State != api.BackupStateCompleted) {
					t.Errorf("stdout %q: want the completed backup", out)
				}
			})
		}
	}
}

func TestBackupDeleteWait(t *testing.T) {
	f, url := newFakeManager(t, map[string][]string{
		"DELETE /v1/backups/b1": {`202 {"name":"b1","spec":{"deleting":true}}`},
		"GET /v1/backups/b1":    {`200 {"name":"b1","spec":{"deleting":true}}`, `404 {"code":404,"message":"backup \"b1\" not found"}`},
	})
	code, out, stderr := runFake(url, "backup", backupVerbs(), "delete", "b1", "--wait")
	if code != 0 || out != "" || len(f.requests("GET /v1/backups/b1")) != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q, requests %q", code, out, stderr, f.seen)
	}
}

func TestBackupVolumeList(t *testing.T) {
	f, url := newFakeManager(t, map[string][]string{
		"GET /v1/backupvolumes?sync=true": {`200 [{"name":"vol1-0a1b2c3d","spec":{"volumeName":"vol1","backupTargetName":"default"},"status":{"lastBackupName":"b2","backupCount":2}}]`},
	})
	code, out, stderr := runFake(url, "backup-volume", backupVolumeVerbs(), "list", "--sync")
	rows := columns(out)
	if code != 0 || len(rows) != 2 || strings.Join(rows[0], " ") != "NAME VOLUME TARGET LAST-BACKUP LAST-BACKUP-AT COUNT" ||
		strings.Join(rows[1], " ") != "vol1-0a1b2c3d vol1 default b2 - 2" || len(f.requests("GET /v1/backupvolumes?sync=true")) != 1 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
}

// A restore or DR volume: the size comes from the manager's record of the
// backup, and a standby volume is sent without a frontend.
func TestVolumeCreateFromBackup(t *testing.T) {
	const url = "file:///backups?backup=b1&volume=vol1"
	backups := `200 [{"name":"b0","status":{"url":"file:///backups?backup=b0&volume=vol1","size":4194304}},` +
		`{"name":"b1","status":{"url":"file:///other?backup=b1&volume=vol1","size":2097152}},` +
		`{"name":"b1-x","status":{"url":"` + strings.ReplaceAll(url, "&", `\u0026`) + `","size":8388608}}]`
	f, murl := newFakeManager(t, map[string][]string{
		"GET /v1/backups?volume=vol1": {backups},
		"POST /v1/volumes":            {`201 {"name":"dr1","spec":{"standby":true}}`},
	})
	if code, _, stderr := runFake(murl, "volume", volumeVerbs(), "create", "dr1", "--from-backup", url, "--standby", "--replicas", "2"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var req map[string]any
	f.body(t, "POST /v1/volumes ", &req)
	want := map[string]any{"name": "dr1", "size": float64(8 << 20), "numberOfReplicas": float64(2), "fromBackup": url, "standby": true}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("sent %v, want %v (no frontend)", req, want)
	}

	// An explicit size is sent as given, without asking for the backup.
	f, murl = newFakeManager(t, map[string][]string{"POST /v1/volumes": {`201 {"name":"r1"}`}})
	if code, _, stderr := runFake(murl, "volume", volumeVerbs(), "create", "r1", "--from-backup", url, "--size", "16M", "--backup-target", "extra"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	req = nil
	f.body(t, "POST /v1/volumes ", &req)
	if req["size"] != float64(16<<20) || req["fromBackup"] != url || req["standby"] != nil || req["backupTargetName"] != "extra" || len(f.requests("GET")) != 0 {
		t.Fatalf("sent %v after %q", req, f.seen)
	}

	// A backup the manager does not list: ask for --size, create nothing.
	f, murl = newFakeManager(t, map[string][]string{"GET /v1/backups?volume=vol1": {`200 []`}})
	code, _, stderr := runFake(murl, "volume", volumeVerbs(), "create", "r1", "--from-backup", url)
	if code != 2 || !strings.Contains(stderr, "--size is required") || len(f.requests("POST")) != 0 {
		t.Fatalf("exit %d: %s, requests %q", code, stderr, f.seen)
	}
}

// activate --wait retries only the "not finished" refusal, then waits for
// the detach; any other refusal ends it at once.
func TestVolumeActivate(t *testing.T) {
	notReady := `409 {"code":409,"message":"volume dr1 ` + api.ActivateNotReadyError + `: engine holds b0, volume's last backup is b1"}`
	f, url := newFakeManager(t, map[string][]string{
		"POST /v1/volumes/dr1/activate": {notReady, notReady, `200 {"name":"dr1","spec":{"frontend":"nbd"},"status":{"state":"attached"}}`},
		"GET /v1/volumes/dr1": {
			`200 {"name":"dr1","spec":{"frontend":"nbd"},"status":{"state":"attached"}}`,
			`200 {"name":"dr1","spec":{"frontend":"nbd"},"status":{"state":"detaching"}}`,
			`200 {"name":"dr1","spec":{"frontend":"nbd"},"status":{"state":"detached"}}`,
		},
	})
	// Table output on a terminal: the refusal shows as progress.
	code, out, stderr := runFake(url, "volume", volumeVerbs(), "activate", "dr1", "--wait")
	if code != 0 || !strings.Contains(out, api.VolumeDetached) {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if a := f.requests("POST /v1/volumes/dr1/activate"); len(a) != 3 || a[0] != `POST /v1/volumes/dr1/activate {"frontend":"nbd"}` {
		t.Fatalf("activations %q", a)
	}
	if n := strings.Count(stderr, "retrying"); n != 1 || !strings.Contains(stderr, "engine holds b0") {
		t.Fatalf("stderr %q: want the refusal once", stderr)
	}
	if g := f.requests("GET /v1/volumes/dr1"); len(g) != 3 {
		t.Fatalf("%d GETs, want 3 (until detached)", len(g))
	}

	tests := []struct {
		name   string
		args   []string
		answer string
	}{
		{"not standby", []string{"--wait"}, `400 {"code":400,"message":"volume dr1 is not a standby volume"}`},
		{"other conflict", []string{"--wait"}, `409 {"code":409,"message":"volume dr1 is being deleted"}`},
		{"not ready without --wait", nil, notReady},
	}
	for _, tt := range tests {
		f, url := newFakeManager(t, map[string][]string{"POST /v1/volumes/dr1/activate": {tt.answer}})
		code, _, stderr := runFake(url, "volume", volumeVerbs(), append([]string{"activate", "dr1", "--frontend", ""}, tt.args...)...)
		_, msg, _ := strings.Cut(tt.answer, `"message":"`)
		if a := f.requests("POST"); code != 1 || len(a) != 1 || a[0] != `POST /v1/volumes/dr1/activate {"frontend":""}` ||
			!strings.Contains(stderr, strings.TrimSuffix(msg, `"}`)) {
			t.Errorf("%s: exit %d, stderr %q, requests %q; want exit 1 after one request", tt.name, code, stderr, a)
		}
	}
}
