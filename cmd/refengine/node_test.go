package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/internal/procs"
)

func TestNodeFlagsRPCListenNeedsCredential(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "cluster.token")
	if _, err := credential.LoadOrCreate(tokenFile); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REFENGINE_CLUSTER_TOKEN_FILE", "")
	base := []string{"--name", "n1", "--data-dir", dir, "--rpc-socket", filepath.Join(dir, "s"), "--nbd-listen", "127.0.0.1:0"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"Unix socket only, no credential", base, ""},
		{"TCP with a credential", append(base, "--rpc-listen", "127.0.0.1:0", "--cluster-token-file", tokenFile), ""},
		{"TCP without a credential", append(base, "--rpc-listen", "127.0.0.1:0"), "--rpc-listen 127.0.0.1:0 needs --cluster-token-file"},
		{"negative CPUs", append(base, "--cpus", "-1"), "--cpus -1: want 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseNodeFlags(tt.args, io.Discard)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("parseNodeFlags: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("parseNodeFlags = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNodeAllowedDirs(t *testing.T) {
	c, err := parseNodeFlags([]string{"--name", "n1", "--data-dir", "/data", "--rpc-socket", "/s", "--nbd-listen", "127.0.0.1:0",
		"--disk", "a=a.img:1M", "--disk", "b=/disks/b.img:1M", "--allow-dir", "/images", "--allow-dir", "/data"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got, want := c.allowedDirs(), []string{"/data", "/disks", "/images"}
	if !slices.Equal(got, want) {
		t.Fatalf("allowedDirs = %q, want %q", got, want)
	}
}

var nodeReadyCPUs = regexp.MustCompile(`msg="node ready".* cpus=(\d+)`)

// TestNodeCPUs starts nodes with and without --cpus and reads the Go
// runtime's GOMAXPROCS back from their ready line: one CPU by default, the
// flag's count when given, and with --cpus 0 whatever $GOMAXPROCS says.
func TestNodeCPUs(t *testing.T) {
	requireBinary(t)
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"default", nil, "GOMAXPROCS=3", "1"},
		{"two", []string{"--cpus", "2"}, "", "2"},
		{"the runtime's choice", []string{"--cpus", "0"}, "GOMAXPROCS=3", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"node", "--name", "n1", "--data-dir", dir, "--rpc-socket", filepath.Join(dir, "rpc.sock"),
				"--nbd-listen", "127.0.0.1:0"}, tt.args...)
			cmd := exec.Command(refengineBin, args...)
			cmd.Env = append(os.Environ(), "GOMAXPROCS=")
			if tt.env != "" {
				cmd.Env = append(cmd.Env, tt.env)
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			p, err := procs.Start(cmd, nodeReadyCPUs)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Kill)
			got, err := p.Ready(30 * time.Second)
			if err != nil {
				t.Fatalf("node: %v\n%s", err, p.Log())
			}
			if got != tt.want {
				t.Fatalf("node ready with cpus=%s, want %s", got, tt.want)
			}
		})
	}
}

var nodeReadyTCP = regexp.MustCompile(`msg="node ready".* rpc_listen=(\S+)`)

// TestNodeJSONRPCDoors runs a node serving JSON-RPC on TCP and its Unix
// socket: TCP runs nothing before the caller proves the cluster
// credential, the socket needs none, and neither opens host files outside
// the node's directories.
func TestNodeJSONRPCDoors(t *testing.T) {
	requireBinary(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "cluster.token")
	tok, err := credential.LoadOrCreate(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	socket := filepath.Join(dir, "rpc.sock")
	cmd := exec.Command(refengineBin, "node", "--name", "n1", "--data-dir", data, "--rpc-socket", socket,
		"--rpc-listen", "127.0.0.1:0", "--nbd-listen", "127.0.0.1:0", "--cluster-token-file", tokenFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := procs.Start(cmd, nodeReadyTCP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	addr, err := p.Ready(30 * time.Second)
	if err != nil {
		t.Fatalf("node: %v\n%s", err, p.Log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A file the node may open.
	img := filepath.Join(data, "extra.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	local, err := jsonrpc.Dial(ctx, "unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	exists := func(name string) bool {
		t.Helper()
		err := local.Call(ctx, "bdev_get_bdevs", map[string]any{"name": name}, nil)
		var e *jsonrpc.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatal(err)
		}
		return err == nil
	}
	notPermitted := func(what string, err error, naming ...string) {
		t.Helper()
		var e *jsonrpc.Error
		if !errors.As(err, &e) || e.Code != -1 {
			t.Fatalf("%s = %v, want error -1", what, err)
		}
		for _, s := range naming {
			if !strings.Contains(e.Message, s) {
				t.Fatalf("%s: message %q does not name %s", what, e.Message, s)
			}
		}
	}

	// TCP without authenticating: refused, and nothing is created.
	stranger, err := jsonrpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	notPermitted("bdev_aio_create over TCP without authenticating",
		stranger.Call(ctx, "bdev_aio_create", map[string]any{"name": "stranger", "filename": img, "block_size": 4096}, nil))
	if exists("stranger") {
		t.Fatal("an unauthenticated bdev_aio_create created its bdev")
	}
	// With another credential: refused too.
	other, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := jsonrpc.DialAuth(ctx, "", "tcp", addr, other); err == nil {
		c.Close()
		t.Fatal("authenticated with a credential that is not the cluster's")
	}

	// Authenticated TCP: runs.
	peer, err := jsonrpc.DialAuth(ctx, "", "tcp", addr, tok)
	if err != nil {
		t.Fatalf("authenticate with the cluster credential: %v", err)
	}
	defer peer.Close()
	if err := peer.Call(ctx, "bdev_aio_create", map[string]any{"name": "peer", "filename": img, "block_size": 4096}, nil); err != nil {
		t.Fatalf("bdev_aio_create over authenticated TCP: %v", err)
	}
	if !exists("peer") {
		t.Fatal("bdev peer missing after its create")
	}
	if err := local.Call(ctx, "bdev_aio_delete", map[string]any{"name": "peer"}, nil); err != nil {
		t.Fatal(err)
	}

	// Host files outside the node's directories, on either door.
	escape := filepath.Join(data, "shadow.img")
	if err := os.Symlink("/etc/shadow", escape); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/etc/shadow", "/etc/passwd", escape, data + "/../cluster.token"} {
		for door, c := range map[string]*jsonrpc.Client{"unix": local, "tcp": peer} {
			notPermitted("bdev_aio_create "+path+" on "+door,
				c.Call(ctx, "bdev_aio_create", map[string]any{"name": "x", "filename": path, "block_size": 4096}, nil), path, data)
			if exists("x") {
				t.Fatalf("bdev_aio_create %s on %s created a bdev", path, door)
			}
		}
	}
	// The node's own file, through the Unix socket, which needs no
	// credential.
	if err := local.Call(ctx, "bdev_aio_create", map[string]any{"name": "local", "filename": img, "block_size": 4096}, nil); err != nil {
		t.Fatalf("bdev_aio_create on the Unix socket: %v", err)
	}
	fi, err := os.Stat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("the Unix socket has mode %v; want it its owner's alone", fi.Mode().Perm())
	}
}
