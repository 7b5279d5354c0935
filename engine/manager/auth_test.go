package manager

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
)

func mustToken(t *testing.T) credential.Token {
	t.Helper()
	tok, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// authCall sends a request with the given bearer token ("" for none) and
// node header ("" for none) and returns the status, headers and body.
func authCall(t *testing.T, method, url, body, token, node string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if node != "" {
		req.Header.Set(api.NodeHeader, node)
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
	return resp.StatusCode, resp.Header, b
}

func TestAPIAuthentication(t *testing.T) {
	cred, operator := mustToken(t), mustToken(t)
	tm := startManager(t, t.TempDir(), Config{Credential: cred, APIToken: operator})
	admin := cred.AdminAPIToken()
	beat := `{"address":"127.0.0.2","rpcAddress":"127.0.0.2:1","nbdAddress":"127.0.0.2:2"}`
	vol := `{"name":"v","size":1048576}`

	// An image to download, uploaded by the admin.
	ac, err := client.New(tm.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ac.SetToken(admin)
	if _, err := ac.UploadBackingImage(ctxT(t), "img", bytes.NewReader(make([]byte, 4096)), ""); err != nil {
		t.Fatalf("upload with the admin token: %v", err)
	}

	tests := []struct {
		name, method, path, body string
		token, node              string
		code                     int
		msg                      string
	}{
		{"version is open", "GET", "/v1/version", "", "", "", 200, ""},
		{"no token", "GET", "/v1/volumes", "", "", "", 401, "missing bearer token"},
		{"no token on a heartbeat", "PUT", "/v1/nodes/node-1/heartbeat", beat, "", "", 401, "missing bearer token"},
		{"wrong token", "GET", "/v1/volumes", "", mustToken(t).AdminAPIToken(), "", 401, "invalid bearer token"},
		{"cluster secret itself is no token", "GET", "/v1/volumes", "", cred.String(), "", 401, "invalid bearer token"},
		{"wrong token claiming a node", "PUT", "/v1/nodes/node-1/heartbeat", beat, mustToken(t).NodeAPIToken("node-1"), "node-1", 401, "invalid bearer token"},
		{"admin token", "POST", "/v1/volumes", vol, admin, "", 201, ""},
		{"operator token", "GET", "/v1/volumes/v", "", operator.String(), "", 200, ""},
		{"node heartbeat", "PUT", "/v1/nodes/node-1/heartbeat", beat, cred.NodeAPIToken("node-1"), "node-1", 200, ""},
		{"node heartbeat without the node header", "PUT", "/v1/nodes/node-2/heartbeat", beat, cred.NodeAPIToken("node-2"), "", 200, ""},
		{"node lists nodes", "GET", "/v1/nodes", "", cred.NodeAPIToken("node-1"), "node-1", 200, ""},
		{"node downloads a backing image", "GET", "/v1/backingimages/img/download", "", cred.NodeAPIToken("node-1"), "node-1", 200, ""},
		{"node token for another node", "PUT", "/v1/nodes/node-2/heartbeat", beat, cred.NodeAPIToken("node-1"), "node-1", 403, `node "node-1" may not send heartbeats for node "node-2"`},
		{"node token on an admin route", "POST", "/v1/volumes", `{"name":"w","size":1048576}`, cred.NodeAPIToken("node-1"), "node-1", 403, "may not call POST /v1/volumes"},
		{"node token reading volumes", "GET", "/v1/volumes", "", cred.NodeAPIToken("node-1"), "node-1", 403, "may not call"},
		{"node token deleting a node", "DELETE", "/v1/nodes/node-2", "", cred.NodeAPIToken("node-1"), "node-1", 403, "may not call"},
		{"node token registering an engine image", "POST", "/v1/engineimages", `{"name":"ei","version":"1","binaryPath":"/bin/sh"}`, cred.NodeAPIToken("node-1"), "node-1", 403, "may not call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := authCall(t, tt.method, tm.url+tt.path, tt.body, tt.token, tt.node)
			if tt.code < 300 {
				if status != tt.code {
					t.Fatalf("status %d, want %d (body %s)", status, tt.code, body)
				}
				return
			}
			checkErrorBody(t, status, body, tt.code, tt.msg)
			if got := hdr.Get("WWW-Authenticate"); (tt.code == 401) != strings.HasPrefix(got, "Bearer") {
				t.Fatalf("status %d with WWW-Authenticate %q", status, got)
			}
		})
	}
	// The refused calls changed nothing: only v and the two nodes exist.
	vols, err := ac.ListVolumes(ctxT(t))
	if err != nil || len(vols) != 1 || vols[0].Name != "v" {
		t.Fatalf("volumes after the refused calls: %v, %v", vols, err)
	}
	nodes, err := ac.ListNodes(ctxT(t))
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes after the refused calls: %v, %v", nodes, err)
	}

	// The typed client sends what SetNodeToken gave it.
	nc, err := client.New(tm.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetNodeToken("node-1", cred.NodeAPIToken("node-1"))
	var req api.HeartbeatRequest
	if err := json.Unmarshal([]byte(beat), &req); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Heartbeat(ctxT(t), "node-1", req); err != nil {
		t.Fatalf("heartbeat through the client: %v", err)
	}
	if _, err := nc.Heartbeat(ctxT(t), "node-2", req); !api.IsCode(err, http.StatusForbidden) {
		t.Fatalf("heartbeat for another node through the client: got %v, want 403", err)
	}
}

// TestAPIOpenWithoutTokens: a manager with neither a cluster credential nor
// an operator token serves everyone (refengine manager allows that on
// loopback only).
func TestAPIOpenWithoutTokens(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	if status, _, body := authCall(t, "GET", tm.url+"/v1/volumes", "", "", ""); status != 200 {
		t.Fatalf("status %d (%s), want 200", status, body)
	}
}
