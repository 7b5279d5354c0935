package jsonrpc

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRPCPyFraming drives the server from Python the way SPDK's rpc.py
// frames requests (indent 2, no newline, params omitted when empty).
func TestRPCPyFraming(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: install the Debian package python3")
	}
	path, _ := testServer(t)
	calls := `[{"method":"sum","params":{"a":40,"b":2}},{"method":"echo"},{"method":"fail"},{"method":"sum","params":{"a":1,"zz":1}}]`
	out, err := exec.Command(python, "testdata/rpcpy_client.py", path, calls).CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{
		`{"id": 1, "jsonrpc": "2.0", "result": 42}`,
		`{"id": 2, "jsonrpc": "2.0", "result": true}`,
		`{"error": {"code": -17, "message": "File exists"}, "id": 3, "jsonrpc": "2.0"}`,
		`{"error": {"code": -32603, "message": "spdk_json_decode_object failed"}, "id": 4, "jsonrpc": "2.0"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d replies, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
