//go:build linux

package aio

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
	"github.com/faultline/faultline/internal/testtool"
)

// loopDevice attaches a loop device over a new file of size bytes and
// detaches it at cleanup. It skips where loop devices cannot be made
// (not root, or a container without them).
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	losetup := testtool.Require(t, "losetup", "mount")
	if os.Geteuid() != 0 {
		t.Skip("attaching a loop device needs root")
	}
	backing := filepath.Join(t.TempDir(), "backing.img")
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(losetup, "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device available here: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// TestBlockDevice opens a real block device: its size comes from seeking
// to its end, and writing zeros works whether or not the device can punch
// holes.
func TestBlockDevice(t *testing.T) {
	const size = 8 << 20
	dev := loopDevice(t, size)
	d, err := Open(dev, Options{BlockSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Size() != size {
		t.Fatalf("size %d, want %d", d.Size(), size)
	}
	p := bdevtest.Pattern(64<<10, 3)
	if _, err := d.WriteAt(p, size-64<<10); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteZeroes(size-64<<10, 4096); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	clear(p[:4096])
	bdevtest.Expect(t, d, size-64<<10, p)
	if _, err := d.ReadAt(make([]byte, 4096), size); !errors.Is(err, bdev.ErrOutOfRange) {
		t.Errorf("read past the device: %v, want ErrOutOfRange", err)
	}
	if _, err := Open(dev, Options{Size: 2 * size}); err == nil {
		t.Error("opening a block device with a size beyond its end succeeded")
	}
}
