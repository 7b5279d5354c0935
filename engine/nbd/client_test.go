package nbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/bdev"
)

func TestClientDevice(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			ts := startServer(t, network)
			dev := ts.addMem(t, "disk", 1<<20, ExportOptions{})
			c := ts.dial(t, "disk")
			if c.Size() != 1<<20 || c.BlockSize() != 512 || c.Flags() != 0x016D || c.ReadOnly() {
				t.Fatalf("size %d block %d flags %#x ro %v", c.Size(), c.BlockSize(), c.Flags(), c.ReadOnly())
			}
			want := pattern(64<<10, 1)
			if n, err := c.WriteAt(want, 4096); n != len(want) || err != nil {
				t.Fatalf("WriteAt: %d %v", n, err)
			}
			got := make([]byte, len(want))
			if n, err := c.ReadAt(got, 4096); n != len(got) || err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadAt: %d %v equal=%v", n, err, bytes.Equal(got, want))
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			if _, durable := dev.snapshot(); !bytes.Equal(durable[4096:4096+len(want)], want) {
				t.Fatal("Flush did not make the write durable")
			}
			fua := pattern(4096, 2)
			if _, err := c.WriteAtFUA(fua, 0); err != nil {
				t.Fatal(err)
			}
			if _, durable := dev.snapshot(); !bytes.Equal(durable[:4096], fua) {
				t.Fatal("WriteAtFUA returned before the data was durable")
			}
			if err := c.WriteZeroes(4096, 8192); err != nil {
				t.Fatal(err)
			}
			if err := c.Unmap(4096+8192, 4096); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReadAt(got, 4096); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:12288], make([]byte, 12288)) || !bytes.Equal(got[12288:], want[12288:]) {
				t.Fatal("WriteZeroes/Unmap left the wrong contents")
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	ts := startServer(t, "unix")
	ts.addMem(t, "disk", 1<<20, ExportOptions{})
	ts.addMem(t, "ro", 1<<20, ExportOptions{ReadOnly: true})
	c := ts.dial(t, "disk")
	ro := ts.dial(t, "ro")
	buf := make([]byte, 4096)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"read past end", func() error { _, err := c.ReadAt(buf, 1<<20); return err }, EINVAL},
		{"read misaligned", func() error { _, err := c.ReadAt(buf, 1); return err }, EINVAL},
		{"read negative", func() error { _, err := c.ReadAt(buf, -512); return err }, bdev.ErrOutOfRange},
		{"write past end", func() error { _, err := c.WriteAt(buf, 1<<20); return err }, bdev.ErrOutOfRange},
		{"zeroes past end", func() error { return c.WriteZeroes(1<<20-512, 1024) }, bdev.ErrOutOfRange},
		{"write read-only", func() error { _, err := ro.WriteAt(buf, 0); return err }, bdev.ErrReadOnly},
		{"trim read-only", func() error { return ro.Unmap(0, 512) }, bdev.ErrReadOnly},
		{"read read-only", func() error { _, err := ro.ReadAt(buf, 0); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Errors are per request: the connection still works.
	if _, err := c.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
}

func TestDialUnknownExport(t *testing.T) {
	ts := startServer(t, "unix")
	_, err := Dial(t.Context(), ts.network, ts.addr, "nope")
	if !errors.Is(err, ErrUnknownExport) {
		t.Fatalf("Dial: %v, want ErrUnknownExport", err)
	}
}

func TestClientConcurrentInFlight(t *testing.T) {
	const (
		workers = 16
		ops     = 40
		region  = 64 << 10
	)
	ts := startServer(t, "tcp")
	dev := ts.addMem(t, "disk", workers*region, ExportOptions{})
	// Hold every write in the device until `workers` of them are inside
	// at once: this only completes if the connection carries that many
	// requests in flight.
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	inside, released := 0, false
	deadline := time.Now().Add(testTimeout)
	dev.gate = func(int64) {
		mu.Lock()
		defer mu.Unlock()
		inside++
		defer func() { inside-- }()
		if inside >= workers {
			released = true
			cond.Broadcast()
		}
		for !released && time.Now().Before(deadline) {
			cond.Wait()
		}
	}
	timer := time.AfterFunc(testTimeout, func() { mu.Lock(); cond.Broadcast(); mu.Unlock() })
	defer timer.Stop()

	c := ts.dial(t, "disk")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			shadow := make([]byte, region)
			base := int64(w * region)
			for i := range ops {
				off := rng.IntN(region/512) * 512
				n := min((1+rng.IntN(16))*512, region-off)
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				if _, err := c.WriteAt(p, base+int64(off)); err != nil {
					errs <- fmt.Errorf("worker %d op %d write: %w", w, i, err)
					return
				}
				copy(shadow[off:], p)
				got := make([]byte, region)
				if _, err := c.ReadAt(got, base); err != nil {
					errs <- fmt.Errorf("worker %d op %d read: %w", w, i, err)
					return
				}
				if !bytes.Equal(got, shadow) {
					errs <- fmt.Errorf("worker %d op %d: read back differs", w, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !released {
		t.Fatalf("never had %d writes in flight at once", workers)
	}
}

func TestClientSplitsLargeRequests(t *testing.T) {
	ts := startServer(t, "unix")
	dev := ts.addMem(t, "disk", 1<<20, ExportOptions{})
	c := ts.dial(t, "disk")
	c.d.maxPayload = 16 << 10 // force 64 requests for 1 MiB
	want := pattern(1<<20, 7)
	if _, err := c.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if data, _ := dev.snapshot(); !bytes.Equal(data, want) {
		t.Fatal("split write left wrong contents")
	}
	got := make([]byte, len(want))
	if _, err := c.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("split read: %v equal=%v", err, bytes.Equal(got, want))
	}
	// A failing piece fails the whole call.
	if _, err := c.ReadAt(make([]byte, 64<<10), 1<<20-32<<10); !errors.Is(err, EINVAL) {
		t.Fatalf("read over the end: %v", err)
	}
}

func TestRemoveExportWhileConnected(t *testing.T) {
	ts := startServer(t, "unix")
	dev := ts.addMem(t, "disk", 1<<20, ExportOptions{})
	ts.addMem(t, "other", 1<<20, ExportOptions{})
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	dev.gate = func(off int64) {
		if off == 0 {
			entered <- struct{}{}
			<-hold
		}
	}
	c := ts.dial(t, "disk")
	other := ts.dial(t, "other")
	if got := ts.Exports(); len(got) != 2 || got[0].Name != "disk" || got[0].Connections != 1 {
		t.Fatalf("Exports = %+v", got)
	}
	written := make(chan error, 1)
	go func() {
		_, err := c.WriteAt(pattern(4096, 1), 0)
		written <- err
	}()
	waitFor(t, entered)
	removed := make(chan error, 1)
	go func() { removed <- ts.RemoveExport("disk") }()
	// New connections are refused at once, before the in-flight write ends.
	waitUntil(t, func() bool { return len(ts.Exports()) == 1 })
	if _, err := Dial(t.Context(), ts.network, ts.addr, "disk"); !errors.Is(err, ErrUnknownExport) {
		t.Fatalf("Dial removed export: %v", err)
	}
	close(hold)
	if err := waitFor(t, written); err != nil {
		t.Fatalf("in-flight write failed: %v", err)
	}
	if err := waitFor(t, removed); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadAt(make([]byte, 512), 0); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("read after removal: %v, want ErrDisconnected", err)
	}
	if _, err := other.ReadAt(make([]byte, 512), 0); err != nil {
		t.Fatalf("other export affected: %v", err)
	}
	if err := ts.RemoveExport("disk"); err == nil {
		t.Fatal("removing twice succeeded")
	}
	if err := ts.AddExport("other", dev, ExportOptions{}); err == nil {
		t.Fatal("duplicate export name accepted")
	}
}

func TestClientClose(t *testing.T) {
	ts := startServer(t, "unix")
	ts.addMem(t, "disk", 1<<20, ExportOptions{})
	c := ts.dial(t, "disk")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := c.ReadAt(make([]byte, 512), 0)
	if !errors.Is(err, bdev.ErrClosed) || !errors.Is(err, ErrDisconnected) {
		t.Fatalf("read after Close: %v", err)
	}
	// The server saw DISC and let go of the connection.
	waitUntil(t, func() bool { return ts.Exports()[0].Connections == 0 })
}

// TestHelperServer is not a test: TestClientServerDies runs the test
// binary with NBD_TEST_SOCKET set to serve from a process it can kill.
func TestHelperServer(t *testing.T) {
	path := os.Getenv("NBD_TEST_SOCKET")
	if path == "" {
		t.Skip("helper process for TestClientServerDies")
	}
	dev := newMemDevice(1<<20, 512)
	dev.gate = func(off int64) {
		if off == 4096 {
			select {} // hold this write until the process is killed
		}
	}
	s := NewServer(nil)
	if err := s.AddExport("disk", dev, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(context.Background(), l)
}

func TestClientServerDies(t *testing.T) {
	dir, err := os.MkdirTemp("", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServer$")
	cmd.Env = append(os.Environ(), "NBD_TEST_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var c *Client
	waitUntil(t, func() bool {
		c, err = Dial(t.Context(), "unix", sock, "disk")
		return err == nil
	})
	defer c.Close()
	if _, err := c.WriteAt(pattern(512, 1), 0); err != nil {
		t.Fatal(err)
	}
	pending := make(chan error, 1)
	go func() {
		_, err := c.WriteAt(pattern(512, 2), 4096) // held by the server
		pending <- err
	}()
	// Make sure the held write reached the server before killing it.
	waitUntil(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == 1
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, pending); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending write: %v, want ErrDisconnected", err)
	}
	for _, call := range []func() error{
		func() error { _, err := c.ReadAt(make([]byte, 512), 0); return err },
		func() error { _, err := c.WriteAt(make([]byte, 512), 0); return err },
		c.Flush,
	} {
		if err := call(); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("call after server death: %v, want ErrDisconnected", err)
		}
	}
}

// waitFor receives from ch or fails the test after testTimeout.
func waitFor[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out after %v", testTimeout)
		panic("unreachable")
	}
}

// waitUntil polls cond until it holds or fails the test after testTimeout.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(testTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("condition not met after %v", testTimeout)
		}
	}
}

func TestDialContextCancelled(t *testing.T) {
	// A listener that accepts but never speaks: only ctx can end Dial.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if nc, err := l.Accept(); err == nil {
			accepted <- nc
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	dialed := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, "tcp", l.Addr().String(), "disk")
		dialed <- err
	}()
	nc := waitFor(t, accepted)
	defer nc.Close()
	cancel()
	if err := waitFor(t, dialed); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial after cancel: %v", err)
	}
}

// TestStartWriteAtPipelines starts many writes on one connection before
// waiting for any, then waits for them in reverse order: each must land
// whole where it was sent, whatever order the replies come back in.
func TestStartWriteAtPipelines(t *testing.T) {
	tests := []struct {
		name   string
		writes int
		size   int
	}{
		{"many small", 64, 4096},
		{"few large", 8, 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, "tcp")
			ts.addMem(t, "disk", int64(tt.writes*tt.size), ExportOptions{})
			c := ts.dial(t, "disk")
			waits := make([]func() (int, error), tt.writes)
			for i := range waits {
				waits[i] = c.StartWriteAt(pattern(tt.size, byte(i)), int64(i*tt.size))
			}
			for i := len(waits) - 1; i >= 0; i-- {
				if n, err := waits[i](); err != nil || n != tt.size {
					t.Fatalf("write %d: n=%d err=%v", i, n, err)
				}
			}
			got := make([]byte, tt.writes*tt.size)
			if _, err := c.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			for i := range tt.writes {
				if !bytes.Equal(got[i*tt.size:(i+1)*tt.size], pattern(tt.size, byte(i))) {
					t.Fatalf("write %d did not land whole at its offset", i)
				}
			}
		})
	}
}

// TestStartWriteAtErrors checks that a write refused before anything is
// sent reports its error from wait.
func TestStartWriteAtErrors(t *testing.T) {
	ts := startServer(t, "unix")
	ts.addMem(t, "ro", 1<<20, ExportOptions{ReadOnly: true})
	ts.addMem(t, "rw", 1<<20, ExportOptions{})
	tests := []struct {
		export string
		off    int64
		want   error
	}{
		{"ro", 0, bdev.ErrReadOnly},
		{"rw", -4096, bdev.ErrOutOfRange},
	}
	for _, tt := range tests {
		c := ts.dial(t, tt.export)
		if _, err := c.StartWriteAt(make([]byte, 4096), tt.off)(); !errors.Is(err, tt.want) {
			t.Errorf("%s at %d: %v, want %v", tt.export, tt.off, err, tt.want)
		}
	}
}
