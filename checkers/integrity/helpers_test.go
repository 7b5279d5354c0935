package integrity

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/nbd"
)

// testCtx is the test's context with a generous deadline: the machine is
// shared, and a deadline is only there to turn a hang into a failure.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newMalloc returns an in-memory device of size bytes filled with the
// pseudo-random pattern of seed.
func newMalloc(t *testing.T, size int64, seed uint64) *malloc.Device {
	t.Helper()
	d, err := malloc.New(uint64(size/512), 512)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.WriteAt(pattern(int(size), seed), 0); err != nil {
		t.Fatal(err)
	}
	return d
}

// pattern returns n pseudo-random bytes, the same for the same seed.
func pattern(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	p := make([]byte, n)
	rand.NewChaCha8(key).Read(p)
	return p
}

// corrupt inverts n bytes of dev at off, so every one of them differs. It
// rewrites the whole 4 KiB blocks around them, as a block device wants.
func corrupt(t *testing.T, dev interface {
	io.ReaderAt
	io.WriterAt
}, off int64, n int) {
	t.Helper()
	start := off / BlockSize * BlockSize
	end := (off + int64(n) + BlockSize - 1) / BlockSize * BlockSize
	b := make([]byte, end-start)
	if _, err := dev.ReadAt(b, start); err != nil {
		t.Fatal(err)
	}
	for i := off - start; i < off-start+int64(n); i++ {
		b[i] ^= 0xff
	}
	if _, err := dev.WriteAt(b, start); err != nil {
		t.Fatal(err)
	}
}

// nbdServer is a real refengine NBD server on loopback.
type nbdServer struct {
	srv  *nbd.Server
	addr string
}

// serveNBD serves devs under their names until the test ends.
func serveNBD(t *testing.T, devs map[string]bdev.Device) *nbdServer {
	t.Helper()
	srv := nbd.NewServer(nil)
	for name, d := range devs {
		if err := srv.AddExport(name, d, nbd.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("nbd Serve: %v", err)
		}
	})
	return &nbdServer{srv: srv, addr: l.Addr().String()}
}

// dial opens export through a real NBD client.
func (s *nbdServer) dial(t *testing.T, export string) *nbd.Client {
	t.Helper()
	c, err := nbd.Dial(testCtx(t), "tcp", s.addr, export)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// want fails the test unless v has the outcome and its summary contains
// every one of parts.
func want(t *testing.T, v checkers.Verdict, name string, outcome checkers.Outcome, parts ...string) {
	t.Helper()
	t.Logf("%s: %s: %s", v.Checker, v.Outcome, v.Summary)
	if v.Checker != name || v.Outcome != outcome {
		t.Fatalf("verdict %s/%s, want %s/%s: %s\n%s", v.Checker, v.Outcome, name, outcome, v.Summary, evidenceText(v))
	}
	for _, p := range parts {
		if !strings.Contains(v.Summary, p) {
			t.Fatalf("summary %q lacks %q\n%s", v.Summary, p, evidenceText(v))
		}
	}
	if v.At.IsZero() {
		t.Fatalf("verdict not stamped: %+v", v)
	}
}

func evidenceText(v checkers.Verdict) string {
	var b strings.Builder
	for _, e := range v.Evidence {
		b.WriteString("  " + e.What + " | " + e.Expected + " | " + e.Actual + " | " + e.Detail)
		if e.Offset != nil {
			b.WriteString(" @" + strconv.FormatInt(*e.Offset, 10))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// offsetOf returns the offset of the first evidence whose What contains
// what and that has one, or -1.
func offsetOf(v checkers.Verdict, what string) int64 {
	for _, e := range v.Evidence {
		if strings.Contains(e.What, what) && e.Offset != nil {
			return *e.Offset
		}
	}
	return -1
}
