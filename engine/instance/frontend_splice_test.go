//go:build linux

package instance

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
	"github.com/faultline/faultline/engine/nbd"
)

// serve exports d as "v" on a listener of network and returns a client of
// it.
func serve(t *testing.T, network string, d bdev.Device) *nbd.Client {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "nbd.sock")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := nbd.NewServer(nil)
	if err := srv.AddExport("v", d, nbd.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	c, err := nbd.Dial(dctx, network, l.Addr().String(), "v")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-served
		srv.Close()
	})
	return c
}

// TestFrontendSplice exports a frontend over TCP, as a node exports a
// volume, in front of an engine reached over a Unix socket: large writes
// go through the node by splice and reach the engine's device by splice
// again, and every byte lands; small ones go the buffered way.
func TestFrontendSplice(t *testing.T) {
	const size = 8 << 20
	file, err := aio.Open(filepath.Join(t.TempDir(), "engine.img"), aio.Options{Create: true, Size: size, BlockSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	engine := &bdevtest.SpliceCounter{SpliceDevice: file}
	node := &bdevtest.SpliceCounter{SpliceDevice: newFrontend(serve(t, "unix", engine))}
	c := serve(t, "tcp", node)

	want := make([]byte, size)
	large := int64(0)
	for i, n := range []int{1 << 20, 4096, 256 << 10, 1 << 20, 128 << 10, 64 << 10, 1 << 20} {
		off := int64(i) * (1 << 20)
		p := bdevtest.Pattern(n, byte(i+1))
		copy(want[off:], p)
		if _, err := c.WriteAt(p, off); err != nil {
			t.Fatalf("write %d at %d: %v", n, off, err)
		}
		if n >= 128<<10 {
			large++
		}
	}
	bdevtest.Expect(t, file, 0, want)
	if node.Spliced.Load() != large || engine.Spliced.Load() != large {
		t.Fatalf("the frontend took %d writes from a splice, the engine's device %d; want %d each",
			node.Spliced.Load(), engine.Spliced.Load(), large)
	}
}
