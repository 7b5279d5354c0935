//go:build linux

package raid1

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/nbd/nbdtest"
)

func fileDev(t *testing.T, size int64) *aio.Device {
	t.Helper()
	d, err := aio.Open(filepath.Join(t.TempDir(), "m.img"), aio.Options{Create: true, Size: size, BlockSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestSpliceMirror exports a raid1 of a local file, a remote replica (a
// file behind an NBD server, as bdev_remote_attach reaches one) and an
// in-memory member that takes only buffers, writes large payloads through
// NBD, which the server splices and the raid tees to its members, and
// checks that every member holds every byte. Then the remote replica goes
// away: the next write still succeeds, on the others, and the replica is
// ERR.
func TestSpliceMirror(t *testing.T) {
	const size = 16 << 20
	local := &bdevtest.SpliceCounter{SpliceDevice: fileDev(t, size)}
	remoteFile := &bdevtest.SpliceCounter{SpliceDevice: fileDev(t, size)}
	remote := nbdtest.Serve(t, "unix", remoteFile)
	mem, err := malloc.New(size/512, 512)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New("r", []Member{{Name: "local", Dev: local}, {Name: "remote", Dev: remote}, {Name: "mem", Dev: mem}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := nbdtest.Serve(t, "tcp", r)

	want := make([]byte, size)
	rng := rand.New(rand.NewPCG(3, 4))
	large := int64(0) // payloads of 128 KiB and more
	for i := range 24 {
		n := []int{1 << 20, 256 << 10, 128 << 10, 4096, 1<<20 - 512}[i%5]
		bdevtest.WriteRandom(t, c, rng, want, n)
		if n >= 128<<10 {
			large++
		}
	}
	for _, d := range []bdev.Device{local, remoteFile, mem} {
		got := make([]byte, size)
		if _, err := d.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("a member differs from what was written")
		}
	}
	// The payloads of 128 KiB and more go the splice way: the local
	// member takes its tee, the remote one receives what the raid sent
	// from its own. Having crossed two sockets, a megabyte arrives at the
	// replica in more pieces than one pipe has slots, and takes two.
	if local.Spliced.Load() != large || remoteFile.Spliced.Load() != large {
		t.Fatalf("local member took %d writes from a splice, the remote replica's server %d; want all %d",
			local.Spliced.Load(), remoteFile.Spliced.Load(), large)
	}
	for _, m := range r.Members() {
		if m.State != StateRW || m.Writes != 24 {
			t.Fatalf("member %s: %s, %d writes; want RW with 24", m.Name, m.State, m.Writes)
		}
	}

	remote.Close()
	p := bytes.Repeat([]byte{9}, 1<<20)
	if _, err := c.WriteAt(p, 0); err != nil {
		t.Fatalf("write with the remote replica gone: %v", err)
	}
	got := make([]byte, len(p))
	for _, d := range []bdev.Device{local, mem} {
		if _, err := d.ReadAt(got, 0); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("write with the remote replica gone did not land on the others (%v)", err)
		}
	}
	for _, m := range r.Members() {
		if want := StateRW; m.Name == "remote" {
			if m.State != StateERR {
				t.Fatalf("remote replica %s after it went away, want ERR", m.State)
			}
		} else if m.State != want {
			t.Fatalf("member %s: %s, want RW", m.Name, m.State)
		}
	}
}
