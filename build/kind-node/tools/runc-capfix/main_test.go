package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSpecFile(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		path  string
		under bool
	}{
		{[]string{"--root", "/run/runc", "create", "--bundle", "/b", "id"}, "/b/config.json", true},
		{[]string{"--log", "/l", "run", "--bundle=/b2", "id"}, "/b2/config.json", true},
		{[]string{"create", "id"}, "config.json", true},
		{[]string{"--root", "/r", "exec", "--process", "/p.json", "id"}, "/p.json", false},
		{[]string{"exec", "-p", "/p2.json", "id"}, "/p2.json", false},
		{[]string{"state", "id"}, "", false},
		{[]string{"delete", "--force", "id"}, "", false},
	} {
		path, under := specFile(tc.args)
		if path != tc.path || under != tc.under {
			t.Errorf("specFile(%q) = %q, %t; want %q, %t", tc.args, path, under, tc.path, tc.under)
		}
	}
}

func TestStripRemovesOnlyMissingCapabilities(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	spec := map[string]any{"process": map[string]any{"capabilities": map[string]any{
		"bounding":  []any{"CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"},
		"effective": []any{"CAP_SYS_RESOURCE"},
	}}, "root": map[string]any{"path": "rootfs"}}
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := strip(path, true, map[string]bool{"CAP_SYS_RESOURCE": true}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	caps := got["process"].(map[string]any)["capabilities"].(map[string]any)
	if want := []any{"CAP_CHOWN", "CAP_NET_ADMIN"}; !reflect.DeepEqual(caps["bounding"], want) {
		t.Errorf("bounding = %v, want %v", caps["bounding"], want)
	}
	if eff := caps["effective"].([]any); len(eff) != 0 {
		t.Errorf("effective = %v, want empty", eff)
	}
	if got["root"].(map[string]any)["path"] != "rootfs" {
		t.Errorf("other fields changed: %v", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode changed to %v", st.Mode())
	}
	if err := strip(filepath.Join(dir, "missing.json"), true, nil); err == nil {
		t.Error("strip of a missing file: no error")
	}
}
