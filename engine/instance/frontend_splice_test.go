//go:build linux

package instance

import (
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
	"github.com/faultline/faultline/engine/nbd/nbdtest"
)

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
	node := &bdevtest.SpliceCounter{SpliceDevice: newFrontend(nbdtest.Serve(t, "unix", engine))}
	c := nbdtest.Serve(t, "tcp", node)

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
