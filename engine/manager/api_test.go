package manager

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// rawCall sends a raw request and returns the status and body.
func rawCall(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// checkErrorBody asserts a 4xx answer whose JSON body carries the same code.
func checkErrorBody(t *testing.T, status int, body []byte, want int, wantMsg string) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d (body %s)", status, want, body)
	}
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	if e.Code != want || e.Message == "" {
		t.Fatalf("error body %+v, want code %d and a message", e, want)
	}
	if wantMsg != "" && !strings.Contains(e.Message, wantMsg) {
		t.Fatalf("error message %q does not mention %q", e.Message, wantMsg)
	}
}

func TestRejectedRequestsStoreNothing(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	waitTargetSynced(t, tm, api.DefaultBackupTarget)
	base, err := tm.m.store.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	big := `{"name":"v","size":1048576,"backingImage":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"bad name upper", "POST", "/v1/volumes", `{"name":"Vol","size":1048576}`, 400, "name"},
		{"bad name dash first", "POST", "/v1/volumes", `{"name":"-v","size":1048576}`, 400, "name"},
		{"bad name too long", "POST", "/v1/volumes", `{"name":"` + strings.Repeat("a", 64) + `","size":1048576}`, 400, "name"},
		{"missing name", "POST", "/v1/volumes", `{"size":1048576}`, 400, "required"},
		{"zero size", "POST", "/v1/volumes", `{"name":"v","size":0}`, 400, "size: explicit 0"},
		{"negative size", "POST", "/v1/volumes", `{"name":"v","size":-1048576}`, 400, "too small"},
		{"unaligned size", "POST", "/v1/volumes", `{"name":"v","size":1048577}`, 400, "multiple"},
		{"huge size", "POST", "/v1/volumes", `{"name":"v","size":9223372036854775807}`, 400, "too large"},
		{"too many replicas", "POST", "/v1/volumes", `{"name":"v","size":1048576,"numberOfReplicas":17}`, 400, "numberOfReplicas"},
		{"negative replicas", "POST", "/v1/volumes", `{"name":"v","size":1048576,"numberOfReplicas":-1}`, 400, "numberOfReplicas"},
		{"bad frontend", "POST", "/v1/volumes", `{"name":"v","size":1048576,"frontend":"iscsi"}`, 400, "frontend"},
		{"unknown field", "POST", "/v1/volumes", `{"name":"v","size":1048576,"colour":"red"}`, 400, "colour"},
		{"wrong type", "POST", "/v1/volumes", `{"name":"v","size":"1MiB"}`, 400, "size"},
		{"trailing data", "POST", "/v1/volumes", `{"name":"v","size":1048576}{}`, 400, "after"},
		{"not json", "POST", "/v1/volumes", `name=v`, 400, ""},
		{"empty body", "POST", "/v1/volumes", ``, 400, "empty"},
		{"oversized body", "POST", "/v1/volumes", big, 413, "larger"},
		{"missing backing image", "POST", "/v1/volumes", `{"name":"v","size":1048576,"backingImage":"nope"}`, 400, "nope"},
		{"missing engine image", "POST", "/v1/volumes", `{"name":"v","size":1048576,"engineImage":"nope"}`, 400, "nope"},
		{"attach unknown volume", "POST", "/v1/volumes/ghost/attach", `{"node":"n1"}`, 404, "ghost"},
		{"heartbeat no addresses", "PUT", "/v1/nodes/n1/heartbeat", `{}`, 400, "address"},
		{"heartbeat bad node name", "PUT", "/v1/nodes/N_1/heartbeat", `{"address":"a","rpcAddress":"b","nbdAddress":"c"}`, 400, "name"},
		{"heartbeat bad disk sizes", "PUT", "/v1/nodes/n1/heartbeat", `{"address":"a","rpcAddress":"b","nbdAddress":"c","disks":[{"name":"d","totalBytes":1,"freeBytes":2}]}`, 400, "inconsistent"},
		{"heartbeat duplicate disk", "PUT", "/v1/nodes/n1/heartbeat", `{"address":"a","rpcAddress":"b","nbdAddress":"c","disks":[{"name":"d"},{"name":"d"}]}`, 400, "twice"},
		{"engine image relative path", "POST", "/v1/engineimages", `{"name":"ei","version":"1","binaryPath":"refengine"}`, 400, "absolute"},
		{"engine image missing binary", "POST", "/v1/engineimages", `{"name":"ei","version":"1","binaryPath":"/nonexistent/refengine"}`, 400, "binary"},
		{"backing image missing file", "POST", "/v1/backingimages", `{"name":"bi","sourcePath":"/nonexistent/img"}`, 400, "source"},
		{"backing image bad sha", "POST", "/v1/backingimages", `{"name":"bi","sourcePath":"/etc/hostname","sha512":"xyz"}`, 400, "sha512"},
		{"events bad since", "GET", "/v1/events?since=-1", ``, 400, "since"},
		{"events bad wait", "GET", "/v1/events?wait=forever", ``, 400, "wait"},
		{"events since in the future", "GET", "/v1/events?since=99", ``, 400, "beyond"},
		{"events limit zero", "GET", "/v1/events?limit=0", ``, 400, "limit"},
		{"replicas bad filter", "GET", "/v1/replicas?volume=BAD", ``, 400, "name"},
		{"unknown path", "GET", "/v1/nothing", ``, 404, "no endpoint"},
		{"wrong method", "PATCH", "/v1/volumes", ``, 405, "not allowed"},
		{"get missing volume", "GET", "/v1/volumes/ghost", ``, 404, "ghost"},
		{"delete missing replica", "DELETE", "/v1/replicas/ghost-r-12345678", ``, 404, "ghost"},
		{"volume on missing target", "POST", "/v1/volumes", `{"name":"v","size":1048576,"backupTargetName":"ghost"}`, 400, `backup target "ghost" does not exist`},
		{"target bad url", "POST", "/v1/backuptargets", `{"name":"t","url":"file://relative/dir"}`, 400, "invalid backup target URL"},
		{"target bad scheme", "POST", "/v1/backuptargets", `{"name":"t","url":"ftp://h/x"}`, 400, "unknown scheme"},
		{"target poll too short", "POST", "/v1/backuptargets", `{"name":"t","url":"file:///b","pollInterval":"1s"}`, 400, "too short"},
		{"target poll not a duration", "POST", "/v1/backuptargets", `{"name":"t","url":"file:///b","pollInterval":300}`, 400, "duration"},
		{"target exists", "POST", "/v1/backuptargets", `{"name":"default","url":"file:///b"}`, 409, "already exists"},
		{"target update missing", "PUT", "/v1/backuptargets/ghost", `{"url":"file:///b"}`, 404, "ghost"},
		{"target update nothing", "PUT", "/v1/backuptargets/default", `{}`, 400, "nothing to change"},
		{"target delete default", "DELETE", "/v1/backuptargets/default", ``, 409, "cannot be deleted"},
		{"target delete missing", "DELETE", "/v1/backuptargets/ghost", ``, 404, "ghost"},
		{"target sync missing", "POST", "/v1/backuptargets/ghost/sync", ``, 404, "ghost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawCall(t, tt.method, tm.url+tt.path, tt.body)
			checkErrorBody(t, status, body, tt.code, tt.msg)
		})
	}
	// Nothing was stored: no objects but the default backup target, and
	// not a single event after its creation and first check.
	err = tm.m.store.View(func(tx *Tx) error {
		for _, k := range api.Kinds {
			objs, err := list[json.RawMessage](tx, k, nil)
			if err != nil {
				return err
			}
			want := 0
			if k == api.KindBackupTarget {
				want = 1
			}
			if len(objs) != want {
				t.Errorf("%d %s objects stored by rejected requests", len(objs), k)
			}
		}
		evs, last, err := tx.Events(base, 10)
		if len(evs) != 0 || last != base {
			t.Errorf("rejected requests produced events: %d (last seq %d)", len(evs), last)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
