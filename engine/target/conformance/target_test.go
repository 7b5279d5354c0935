package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/target"
)

// target is where the cases run: a socket path, and for refengine the
// in-process target's stop function.
type env struct {
	socket  string
	dir     string
	spdk    bool
	diffDoc string // docs/jsonrpc.md "Deliberate differences" section
}

func setup(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	// A real spdk_tgt (often another user) opens aio files in it.
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			break
		}
	}
	e := &env{dir: dir}
	if s := os.Getenv("SPDK_RPC_SOCKET"); s != "" {
		e.socket, e.spdk = s, true
		t.Logf("running against the SPDK-compatible target at %s", s)
		return e
	}
	tgt := target.New(target.Options{AllowedDirs: []string{dir}})
	srv := jsonrpc.NewServer(nil)
	tgt.Register(srv)
	sockDir, err := os.MkdirTemp("", "cf-sock")
	if err != nil {
		t.Fatal(err)
	}
	e.socket = filepath.Join(sockDir, "rpc.sock")
	l, err := jsonrpc.ListenUnix(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		tgt.Close()
		os.RemoveAll(sockDir)
	})
	doc, err := os.ReadFile("../../../docs/jsonrpc.md")
	if err != nil {
		t.Fatalf("reading the deliberate differences: %v", err)
	}
	e.diffDoc = differences(string(doc))
	if e.diffDoc == "" {
		t.Fatal(`docs/jsonrpc.md has no "Deliberate differences from SPDK" section`)
	}
	return e
}

// differences returns the deliberate differences docs/jsonrpc.md lists:
// the section "Deliberate differences from SPDK" and the raid section's
// "Differences from SPDK, on purpose" it refers to ("Besides the raid
// differences above"), with white space collapsed.
func differences(doc string) string {
	section := func(start string) string {
		i := strings.Index(doc, start)
		if i < 0 {
			return ""
		}
		s := doc[i:]
		if j := strings.Index(s[len(start):], "\n## "); j >= 0 {
			s = s[:len(start)+j]
		}
		return s
	}
	d := section("## Deliberate differences from SPDK")
	if d == "" {
		return ""
	}
	if raid := section("Differences from SPDK, on purpose:"); raid != "" {
		d += "\n" + raid
	}
	return strings.Join(strings.Fields(d), " ")
}
