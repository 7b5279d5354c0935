package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// startNbdkit serves a fresh sparse file of size bytes with nbdkit's file
// plugin on a loopback port and returns its NBD URI.
func startNbdkit(ctx context.Context, env *env) (string, error) {
	dir := filepath.Join(env.dir, "nbdkit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("nbdkit: %w", err)
	}
	file := filepath.Join(dir, "disk.img")
	f, err := os.Create(file)
	if err != nil {
		return "", fmt.Errorf("nbdkit: %w", err)
	}
	err = f.Truncate(env.cfg.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("nbdkit: size %s: %w", file, err)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	p, err := startProcess("nbdkit", filepath.Join(dir, "nbdkit.log"), env.cfg.Nbdkit,
		"--foreground", "--exit-with-parent", "-p", strconv.Itoa(port), "-i", "127.0.0.1", "file", file)
	if err != nil {
		return "", err
	}
	env.defer_(p.stop)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := p.waitReady(rctx, "listening on "+addr, dialable("tcp", addr)); err != nil {
		return "", err
	}
	return "nbd://" + addr + "/", nil
}
