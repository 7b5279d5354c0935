package backupstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
)

// env is one backup target under test, with the means to take it away
// and bring it back: the shared suite runs against every kind.
type env struct {
	kind   string
	url    string
	cred   Credential
	target Target
	// down makes the target unreachable (server stopped, directory gone);
	// up undoes it.
	down, up func()
}

func (e *env) store() *Store { return New(e.target, Options{}) }

// fileEnv is a file target over a temporary directory. "Down" renames the
// directory away, as an unmounted share looks (running as root, removing
// write permission would not stop the writes).
func fileEnv(t testing.TB) *env {
	dir := t.TempDir() + "/target"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &env{kind: "file", url: "file://" + dir}
	e.down = func() {
		if err := os.Rename(dir, dir+".away"); err != nil {
			t.Error(err)
		}
	}
	e.up = func() {
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Error(err)
		}
	}
	e.target = mustOpen(t, e.url, e.cred)
	return e
}

// s3Env is an S3 target on a real versitygw server on loopback (skipped,
// with the reason, when versitygw is not installed).
func s3Env(t testing.TB) *env {
	srv := startS3(t)
	e := &env{kind: "s3", url: srv.URL("faultline"), cred: srv.Cred(), down: srv.Stop, up: srv.Start}
	e.target = mustOpen(t, e.url, e.cred)
	return e
}

func mustOpen(t testing.TB, url string, cred Credential) Target {
	t.Helper()
	tgt, err := Open(context.Background(), url, cred)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	return tgt
}

// forEachTarget runs fn as a subtest per target kind.
func forEachTarget(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, k := range []struct {
		name string
		make func(testing.TB) *env
	}{{"file", fileEnv}, {"s3", s3Env}} {
		t.Run(k.name, func(t *testing.T) { fn(t, k.make(t)) })
	}
}

// volume is an in-memory disk: the source of backups and the destination
// of restores. It records which offsets were written.
type volume struct {
	mu      sync.Mutex
	b       []byte
	written map[int64]int64 // offset → length
}

func newVolume(size int64) *volume { return &volume{b: make([]byte, size), written: map[int64]int64{}} }

func (v *volume) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(v.b).ReadAt(p, off)
}

func (v *volume) WriteAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.written[off] = int64(len(p))
	return copy(v.b[off:], p), nil
}

func (v *volume) writtenOffsets() []int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var offs []int64
	for o := range v.written {
		offs = append(offs, o)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	v.written = map[int64]int64{}
	return offs
}

func (v *volume) digest() string {
	sum := sha256.Sum256(v.b)
	return hex.EncodeToString(sum[:])
}

func (v *volume) clone() *volume {
	c := newVolume(int64(len(v.b)))
	copy(c.b, v.b)
	return c
}

// fillBlock writes new, half-compressible content into the block at off.
func (v *volume) fillBlock(rng *rand.Rand, off int64) {
	end := min(off+BlockSize, int64(len(v.b)))
	blk := v.b[off:end]
	for i := 0; i < len(blk); i += 8 {
		x := rng.Uint64()
		for j := 0; j < 8 && i+j < len(blk); j++ {
			if (i/4096)%2 == 0 {
				blk[i+j] = byte(x >> (8 * j))
			} else {
				blk[i+j] = byte(i / 4096)
			}
		}
	}
}

func (v *volume) zeroBlock(off int64) {
	end := min(off+BlockSize, int64(len(v.b)))
	clear(v.b[off:end])
}

// testVolume returns a volume of size bytes in which every block but every
// seventh (left sparse) holds data.
func testVolume(size int64, seed uint64) *volume {
	v := newVolume(size)
	rng := rand.New(rand.NewPCG(seed, 1))
	for off := int64(0); off < size; off += BlockSize {
		if (off/BlockSize)%7 != 3 {
			v.fillBlock(rng, off)
		}
	}
	return v
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 3)) }
