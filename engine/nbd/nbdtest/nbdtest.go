// Package nbdtest serves a device over NBD for the tests of what sits on
// either side of a connection: a raid1 reaching a remote replica, a
// node's frontend reaching its engine.
package nbdtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/nbd"
)

// Serve exports d over NBD on a listener of network ("tcp" on loopback,
// or "unix" on a socket in a directory of its own) and returns a client
// of it. Both are closed when the test ends.
func Serve(tb testing.TB, network string, d bdev.Device) *nbd.Client {
	tb.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		// Not tb.TempDir: a socket's path must stay short.
		dir, err := os.MkdirTemp("", "nbdtest")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "s")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	srv := nbd.NewServer(nil)
	if err := srv.AddExport("v", d, nbd.ExportOptions{}); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	c, err := nbd.Dial(dctx, network, l.Addr().String(), "v")
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Close()
		cancel()
		<-served
		srv.Close()
	})
	return c
}
