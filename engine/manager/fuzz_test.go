package manager

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// FuzzRequestBodies throws arbitrary bytes at every JSON endpoint: the
// answer must be a success or a 4xx with a JSON error body, never a 5xx or
// a panic.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{"name":"v","size":1048576}`,
		`{"name":"v","size":1048576,"numberOfReplicas":2,"frontend":"nbd"}`,
		`{"node":"n1"}`,
		`{"address":"a","rpcAddress":"unix:/x","nbdAddress":"a:1","disks":[{"name":"d","totalBytes":10,"freeBytes":5}]}`,
		`{"name":"ei","version":"1","binaryPath":"/bin/sh"}`,
		`{"name":"t1","url":"file:///tmp/bt","pollInterval":"30s"}`,
		`{"name":"t2","url":"s3://b3b@us-east-1/p","credential":{"accessKey":"a","secretKey":"s","endpoint":"http://127.0.0.1:1","region":"us-east-1"}}`,
		`{"url":"s3://bkt@r/x","pollInterval":"1m","credential":{}}`, `{"pollInterval":"9s"}`, `{"pollInterval":1}`,
		`{"name":"s1"}`, `{}`, `[]`, `null`, `{"size":1e400}`, `{"name":"\u0000"}`, "\xff\xfe", `{"name":"v"`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	m, err := Open(Config{DataDir: f.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	h := m.Handler()
	// A node so that attach requests get past the node lookup.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("PUT", "/v1/nodes/n1/heartbeat", bytes.NewReader([]byte(seeds[3]))))
	if rec.Code != 200 {
		f.Fatalf("heartbeat: %d %s", rec.Code, rec.Body)
	}
	routes := []struct{ method, path string }{
		{"POST", "/v1/volumes"},
		{"POST", "/v1/volumes/v/attach"},
		{"POST", "/v1/volumes/v/snapshot"},
		{"POST", "/v1/volumes/v/upgrade"},
		{"PUT", "/v1/nodes/n2/heartbeat"},
		{"POST", "/v1/engineimages"},
		{"POST", "/v1/backingimages"},
		{"POST", "/v1/backuptargets"},
		{"PUT", "/v1/backuptargets/default"},
		{"PUT", "/v1/backuptargets/ghost"},
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, rt := range routes {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(rt.method, rt.path, bytes.NewReader([]byte(body))))
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 {
				var e api.Error
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != rec.Code || e.Message == "" {
					t.Fatalf("%s %s: error body %q is not a JSON api.Error with code %d", rt.method, rt.path, rec.Body, rec.Code)
				}
			} else if rec.Code != http.StatusOK && rec.Code != http.StatusCreated && rec.Code != http.StatusAccepted {
				t.Fatalf("%s %s: unexpected status %d", rt.method, rt.path, rec.Code)
			}
		}
	})
}
