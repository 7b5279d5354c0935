package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/manager"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"1M", 1 << 20, true}, {"1MiB", 1 << 20, true}, {"2g", 2 << 30, true},
		{"512K", 512 << 10, true}, {"1T", 1 << 40, true}, {"0", 0, true},
		{"", 0, false}, {"1.5G", 0, false}, {"-1M", 0, false}, {"1X", 0, false}, {"99999999999T", 0, false},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseBytes(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("output", "table", "")
	size := fs.String("size", "", "")
	pos, err := parseInterleaved(fs, []string{"vol1", "--output", "json", "extra", "--size=1G"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"vol1", "extra"}) || *out != "json" || *size != "1G" {
		t.Fatalf("pos %v output %q size %q", pos, *out, *size)
	}
	if _, err := parseInterleaved(fs, []string{"--nope"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestParseManagerFlags(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"--data-dir", "/tmp/x"}, ""},
		{[]string{}, "--data-dir is required"},
		{[]string{"--data-dir", "/tmp/x", "--node-timeout", "0s"}, "must be positive"},
		{[]string{"--data-dir", "/tmp/x", "--listen", "nonsense"}, "--listen"},
		{[]string{"--data-dir", "/tmp/x", "--defects", "no-such-defect"}, "unknown defect"},
		{[]string{"--data-dir", "/tmp/x", "--log-level", "loud"}, "--log-level"},
		{[]string{"--data-dir", "/tmp/x", "stray"}, "unexpected argument"},
		{[]string{"--data-dir", "/tmp/x", "--backup-target", "s3://bkt@us-east-1/"}, ""},
		{[]string{"--data-dir", "/tmp/x", "--backup-target", "file://relative"}, "--backup-target"},
		{[]string{"--data-dir", "/tmp/x", "--engine-image-dir", "relative/dir"}, "absolute"},
		{[]string{"--data-dir", "/tmp/x", "--backing-image-dir", "relative/dir"}, "absolute"},
		{[]string{"--data-dir", "/tmp/x", "--listen", "[::1]:9500"}, ""},
		{[]string{"--data-dir", "/tmp/x", "--listen", "localhost:9500"}, ""},
		{[]string{"--data-dir", "/tmp/x", "--listen", "0.0.0.0:9500"}, "reachable from other hosts"},
		{[]string{"--data-dir", "/tmp/x", "--listen", ":9500"}, "reachable from other hosts"},
		{[]string{"--data-dir", "/tmp/x", "--listen", "[::]:9500"}, "reachable from other hosts"},
		{[]string{"--data-dir", "/tmp/x", "--listen", "10.244.1.7:9500"}, "reachable from other hosts"},
		{[]string{"--data-dir", "/tmp/x", "--listen", "0.0.0.0:9500", "--api-token-file", "/nonexistent/token"}, "--api-token-file"},
	}
	for _, tt := range tests {
		c, err := parseManagerFlags(tt.args, io.Discard)
		if tt.err == "" {
			if err != nil {
				t.Errorf("%v: %v", tt.args, err)
			} else if c.nodeTimeout.Seconds() != 5 {
				t.Errorf("%v: defaults not applied: %+v", tt.args, c)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: got %v, want an error about %q", tt.args, err, tt.err)
		}
	}
	c, err := parseManagerFlags([]string{"--data-dir", "/d", "--defects", "upgrade-crash-loses-attachment, sysbackup-stale-last-backup"}, io.Discard)
	if err != nil || !slices.Equal(c.defects, []string{"upgrade-crash-loses-attachment", "sysbackup-stale-last-backup"}) {
		t.Fatalf("defects: %+v, %v", c, err)
	}
	// A token, from either file, makes a non-loopback address acceptable.
	for _, flagName := range []string{"--cluster-token-file", "--api-token-file"} {
		file := filepath.Join(t.TempDir(), "token")
		tok, err := credential.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.WriteFile(file); err != nil {
			t.Fatal(err)
		}
		if _, err := parseManagerFlags([]string{"--data-dir", "/d", "--listen", "0.0.0.0:9500", flagName, file}, io.Discard); err != nil {
			t.Errorf("--listen 0.0.0.0:9500 %s: %v", flagName, err)
		}
	}
	c, err = parseManagerFlags([]string{"--data-dir", "/d", "--engine-image-dir", "/a/", "--engine-image-dir", "/b", "--backing-image-dir", "/c"}, io.Discard)
	if err != nil || !slices.Equal(c.engineDirs, []string{"/a", "/b"}) || !slices.Equal(c.backingDirs, []string{"/c"}) {
		t.Fatalf("image dirs: %+v, %v", c, err)
	}
	if c, err := parseManagerFlags([]string{"--data-dir", "/d"}, io.Discard); err != nil || c.listen != "127.0.0.1:9500" {
		t.Fatalf("default listen: %+v, %v", c, err)
	}
	if _, err := parseManagerFlags([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
}

func TestAdminUsageErrors(t *testing.T) {
	verbs := volumeVerbs()
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"frobnicate"}, 2, "unknown verb"},
		{[]string{"get"}, 2, "want 1 argument"},
		{[]string{"create", "v", "--size", "lots"}, 2, "--size"},
		{[]string{"list", "--output", "yaml"}, 2, "--output"},
		{[]string{"list", "--manager", "ftp://x"}, 2, "manager URL"},
		{[]string{"wait", "v"}, 2, "--state"},
		// A manager that is not there: a runtime failure, exit 1.
		{[]string{"list", "--manager", "http://127.0.0.1:1", "--timeout", "2s"}, 1, "connect"},
	}
	for _, tt := range tests {
		var out, errb terminalBuffer // progress shows, as to a person
		code := runAdmin("volume", verbs, tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, errb.String(), tt.code, tt.msg)
		}
	}
}

func TestAdminAgainstManager(t *testing.T) {
	m, err := manager.Open(manager.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		srv.Close()
		m.Close()
	})
	run := func(resource string, verbs map[string]adminVerb, args ...string) (int, string, string) {
		var out, errb terminalBuffer // progress shows, as to a person
		code := runAdmin(resource, verbs, append(args, "--manager", srv.URL), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := run("volume", volumeVerbs(), "create", "vol1", "--size", "64M", "--replicas", "2"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	code, out, stderr := run("volume", volumeVerbs(), "get", "vol1", "--output", "json")
	if code != 0 {
		t.Fatalf("get: exit %d: %s", code, stderr)
	}
	var v api.Volume
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Name != "vol1" || v.Spec.Size != 64<<20 || v.Spec.NumberOfReplicas != 2 {
		t.Fatalf("get --output json: %v %+v", err, v)
	}
	code, out, _ = run("volume", volumeVerbs(), "list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "vol1") || !strings.Contains(out, "67108864") {
		t.Fatalf("list table: exit %d:\n%s", code, out)
	}
	if code, _, stderr := run("volume", volumeVerbs(), "create", "vol1", "--size", "64M"); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("duplicate create: exit %d: %s", code, stderr)
	}
	if code, out, stderr := run("engine-image", engineImageVerbs(), "list", "--output", "json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("engine-image list: exit %d: %q %s", code, out, stderr)
	}
}

// TestAdminToken: the admin commands send $REFENGINE_TOKEN or the
// --token-file's token, and on a 401 say how to set one.
func TestAdminToken(t *testing.T) {
	cred, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	m, err := manager.Open(manager.Config{DataDir: t.TempDir(), Credential: cred, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		srv.Close()
		m.Close()
	})
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runAdmin("volume", volumeVerbs(), append([]string{"list", "--manager", srv.URL}, args...), &out, &errb)
		return code, errb.String()
	}
	t.Setenv("REFENGINE_TOKEN", "")
	if code, stderr := run(); code != 1 || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "none was given") || !strings.Contains(stderr, "eval $(faultline cluster env --dir DIR)") {
		t.Fatalf("without a token: exit %d: %s", code, stderr)
	}
	t.Setenv("REFENGINE_TOKEN", cred.NodeAPIToken("x"))
	if code, stderr := run(); code != 1 || !strings.Contains(stderr, "refused the bearer token") {
		t.Fatalf("with a wrong token: exit %d: %s", code, stderr)
	}
	t.Setenv("REFENGINE_TOKEN", cred.AdminAPIToken())
	if code, stderr := run(); code != 0 {
		t.Fatalf("with $REFENGINE_TOKEN: exit %d: %s", code, stderr)
	}
	t.Setenv("REFENGINE_TOKEN", "")
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(cred.AdminAPIToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run("--token-file", file); code != 0 {
		t.Fatalf("with --token-file: exit %d: %s", code, stderr)
	}
}

// TestAdminVolumeDeleteForce: `volume delete` of a volume a consumer holds
// fails and says how to force; with --force it is deleted.
func TestAdminVolumeDeleteForce(t *testing.T) {
	m, err := manager.Open(manager.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		srv.Close()
		m.Close()
	})
	c, err := client.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Heartbeat(ctx, "n1", api.HeartbeatRequest{Address: "127.0.0.2", RPCAddress: "tcp:127.0.0.2:1", NBDAddress: "127.0.0.2:2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol1", Size: api.MiB}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: "pod1", Volume: "vol1", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runAdmin("volume", volumeVerbs(), append(args, "--manager", srv.URL), &out, &errb)
		return code, errb.String()
	}
	if code, stderr := run("delete", "vol1"); code != 1 || !strings.Contains(stderr, `consumer "pod1" on node "n1"`) || !strings.Contains(stderr, "--force") {
		t.Fatalf("delete of a held volume: exit %d: %s", code, stderr)
	}
	if v, err := c.GetVolume(ctx, "vol1"); err != nil || v.Status.State == api.VolumeDeleting {
		t.Fatalf("after the refused delete: %+v, %v", v.Status, err)
	}
	if code, stderr := run("delete", "vol1", "--force"); code != 0 {
		t.Fatalf("delete --force: exit %d: %s", code, stderr)
	}
	if v, err := c.GetVolume(ctx, "vol1"); err != nil || v.Status.State != api.VolumeDeleting {
		t.Fatalf("after delete --force: %+v, %v", v.Status, err)
	}
}
