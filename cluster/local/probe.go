package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoManager means the refengine binary has no manager subcommand yet, so
// no cluster can be built from it.
var ErrNoManager = errors.New("refengine binary has no manager subcommand")

// ErrNoNode means the refengine binary has no node subcommand yet.
var ErrNoNode = errors.New("refengine binary has no node subcommand")

// Features is what a refengine binary's --help says it supports. The local
// driver adapts its command lines to it, because the engine and the
// framework are developed side by side.
type Features struct {
	NodeManagerFlag bool // refengine node --manager URL (registration and heartbeats)
	NodeDefects     bool
	ManagerDefects  bool
	// ManagerRestoreRateLimit: refengine manager --restore-rate-limit BYTES.
	ManagerRestoreRateLimit bool
	// NodeDiskErrors: refengine node --disk-error-injection, an error bdev
	// under each disk's lvstore (the disk-error fault arms it).
	NodeDiskErrors bool
	// ClusterToken: refengine node and manager --cluster-token-file, the
	// cluster credential (engine/credential).
	ClusterToken bool
	// ManagerEngineImageDir: refengine manager --engine-image-dir, the
	// directories engine image binaries may be registered from.
	ManagerEngineImageDir bool
}

// Probe asks the binary for each subcommand's help text.
func Probe(ctx context.Context, refengine string) (Features, error) {
	var f Features
	mgr, err := help(ctx, refengine, "manager")
	if err != nil {
		return f, fmt.Errorf("probe %s manager: %w", refengine, err)
	}
	if !hasFlag(mgr, "listen") {
		return f, fmt.Errorf("probe %s: %w", refengine, ErrNoManager)
	}
	node, err := help(ctx, refengine, "node")
	if err != nil {
		return f, fmt.Errorf("probe %s node: %w", refengine, err)
	}
	if !hasFlag(node, "rpc-socket") {
		return f, fmt.Errorf("probe %s: %w", refengine, ErrNoNode)
	}
	f.NodeManagerFlag = hasFlag(node, "manager")
	f.NodeDefects = hasFlag(node, "defects")
	f.ManagerDefects = hasFlag(mgr, "defects")
	f.ManagerRestoreRateLimit = hasFlag(mgr, "restore-rate-limit")
	f.NodeDiskErrors = hasFlag(node, "disk-error-injection")
	f.ClusterToken = hasFlag(node, "cluster-token-file") && hasFlag(mgr, "cluster-token-file")
	f.ManagerEngineImageDir = hasFlag(mgr, "engine-image-dir")
	return f, nil
}

// hasFlag reports whether a flag-package help text lists -name (a line
// starting with "-name" after indentation).
func hasFlag(help, name string) bool {
	for _, line := range strings.Split(help, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "-"+name || f[0] == "--"+name) {
			return true
		}
	}
	return false
}

// help returns the combined output of `refengine sub --help`; a non-zero
// exit is normal for flag-package help and is not an error.
func help(ctx context.Context, bin, sub string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, sub, "--help").CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return "", err
	}
	return string(out), nil
}

// FindRefengine locates the refengine binary: $FAULTLINE_REFENGINE, then
// bin/refengine or refengine next to the running executable, then PATH.
func FindRefengine() (string, error) {
	if p := os.Getenv("FAULTLINE_REFENGINE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("FAULTLINE_REFENGINE: %w", err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		for _, c := range []string{filepath.Join(dir, "refengine"), filepath.Join(dir, "bin", "refengine")} {
			if st, err := os.Stat(c); err == nil && !st.IsDir() {
				return c, nil
			}
		}
	}
	if p, err := exec.LookPath("refengine"); err == nil {
		return p, nil
	}
	return "", errors.New("refengine binary not found: build it (go build -o bin/refengine ./cmd/refengine) and pass --refengine or set FAULTLINE_REFENGINE")
}

// managerReady reports whether the manager answers GET /v1/version.
func managerReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/version", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/version: %s", resp.Status)
	}
	return nil
}

// nodeReady reports whether the node's JSON-RPC socket answers
// spdk_get_version. It speaks the wire protocol directly rather than
// through the engine's JSON-RPC client: the framework keeps its view of a
// node to what goes over the socket.
func nodeReady(ctx context.Context, socket string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte(`{"jsonrpc":"2.0","method":"spdk_get_version","id":1}`)); err != nil {
		return err
	}
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return fmt.Errorf("read spdk_get_version reply: %w", err)
	}
	if reply.Error != nil {
		return fmt.Errorf("spdk_get_version: %d %s", reply.Error.Code, reply.Error.Message)
	}
	if len(bytes.TrimSpace(reply.Result)) == 0 {
		return errors.New("spdk_get_version: empty result")
	}
	return nil
}

// freePort asks the kernel for a free TCP port on host. The port is free
// when this returns; a process started right after binds it.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ProbeManager reports whether the manager at url answers; ProbeNode
// whether a node's JSON-RPC socket does. `faultline cluster status` uses
// them when no supervisor is left to ask.
func ProbeManager(ctx context.Context, url string) error { return managerReady(ctx, url) }

// ProbeNode reports whether the node socket answers spdk_get_version.
func ProbeNode(ctx context.Context, socket string) error { return nodeReady(ctx, socket) }
