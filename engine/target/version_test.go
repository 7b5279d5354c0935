package target

import (
	"encoding/json"
	"testing"
)

// TestVersion checks spdk_get_version's reply against Longhorn's fork
// (lib/rpc/rpc.c rpc_spdk_get_version; include/spdk/version.h on branch
// longhorn-v24.09: 24.09.1 with suffix "-pre", the minor printed with two
// digits, built without a git commit so no "commit" field).
func TestVersion(t *testing.T) {
	fx := newFixture(t, false)
	var got json.RawMessage
	fx.must("spdk_get_version", nil, &got)
	want := `{"fields":{"major":24,"minor":9,"patch":1,"suffix":"-pre"},"version":"SPDK v24.09.1-pre"}`
	var norm any
	if err := json.Unmarshal(got, &norm); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(norm)
	if string(b) != want {
		t.Errorf("spdk_get_version = %s, want %s", b, want)
	}
	var methods []string
	fx.must("rpc_get_methods", map[string]any{"current": true, "include_aliases": false}, &methods)
	if len(methods) == 0 {
		t.Error("rpc_get_methods with valid params listed nothing")
	}
}
