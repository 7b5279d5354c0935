package nbd

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// heldWrite is a WriteAt the device holds until release.
type heldWrite struct {
	entered     chan struct{} // closed once the write reached the device
	release     chan struct{}
	enterOnce   sync.Once
	releaseOnce sync.Once
}

// holdWrite makes d hold every WriteAt at off until open is called (at
// the latest when the test ends). Call it before d serves any request.
func holdWrite(t testing.TB, d *memDevice, off int64) *heldWrite {
	h := &heldWrite{entered: make(chan struct{}), release: make(chan struct{})}
	d.gate = func(at int64) {
		if at == off {
			h.enterOnce.Do(func() { close(h.entered) })
			<-h.release
		}
	}
	t.Cleanup(h.open)
	return h
}

func (h *heldWrite) open() { h.releaseOnce.Do(func() { close(h.release) }) }

func (h *heldWrite) waitEntered(t testing.TB) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(testTimeout):
		t.Fatal("the write never reached the device")
	}
}

// servingModes are the two ways a connection serves a client that sends
// one request at a time: its reader hands each to a worker, or serves it
// itself (alone).
var servingModes = []struct {
	name  string
	alone bool
}{
	{"workers", false},
	{"alone", true},
}

// servingMode makes a server serve as the mode says, from a connection's
// first request.
func servingMode(alone bool) func(*Server) {
	return func(s *Server) { s.workersOnly, s.loneAfter = !alone, 0 }
}

// waitReadersEnded waits until n connections to export have stopped
// reading requests.
func (ts *testServer) waitReadersEnded(t testing.TB, export string, n int) {
	t.Helper()
	ts.waitConns(t, export, n, "ended", func(c *conn) bool { return c.ended })
}

// waitAlone waits until n connections to export have their reader serve
// a request itself.
func (ts *testServer) waitAlone(t testing.TB, export string, n int) {
	t.Helper()
	ts.waitConns(t, export, n, "serving a request alone", func(c *conn) bool { return c.alone })
}

// waitConns waits until n connections to export are as is says.
func (ts *testServer) waitConns(t testing.TB, export string, n int, what string, is func(*conn) bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		ts.mu.Lock()
		found := 0
		if e, ok := ts.exports[export]; ok {
			for c := range e.conns {
				if is(c) {
					found++
				}
			}
		}
		ts.mu.Unlock()
		if found >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to %q %s after %v, want %d", found, export, what, testTimeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitHeld waits until the connection holding a request in the device
// is where a fence must wait for it: ended in the workers mode (after end
// is called), serving the request itself in the alone mode (its reader
// cannot see the end until the request is done).
func (ts *testServer) waitHeld(t testing.TB, export string, alone bool, end func()) {
	t.Helper()
	if alone {
		ts.waitAlone(t, export, 1)
		end()
		return
	}
	end()
	ts.waitReadersEnded(t, export, 1)
}

// readResult is a READ reply with its data, or why none arrived.
type readResult struct {
	r    reply
	data []byte
	err  error
}

// readAsync collects the reply to a READ of n bytes in the background.
func (c *rawConn) readAsync(n int) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		var res readResult
		hb := make([]byte, replyHeaderLen)
		if _, res.err = io.ReadFull(c, hb); res.err == nil {
			res.r, res.err = parseReplyHeader(hb)
		}
		if res.err == nil && res.r.errno == 0 {
			res.data = make([]byte, n)
			_, res.err = io.ReadFull(c, res.data)
		}
		ch <- res
	}()
	return ch
}

func (res readResult) check(t testing.TB, want []byte) {
	t.Helper()
	if res.err != nil || res.r.errno != 0 {
		t.Fatalf("read reply %+v: %v", res.r, res.err)
	}
	if !bytes.Equal(res.data, want) {
		t.Fatalf("read returned %x..., want %x...", res.data[:8], want[:8])
	}
}

// heldWriteFrom exports a 1 MiB device holding old at x, sends a WRITE of
// fresh there over a new connection and waits until the device holds that
// write. It returns the connection and the held write. When before is not
// nil it is called once the export is there, before the write is sent.
func (ts *testServer) heldWriteFrom(t testing.TB, export string, x int64, old, fresh []byte, before func()) (*rawConn, *heldWrite) {
	t.Helper()
	dev := ts.addMem(t, export, 1<<20, ExportOptions{})
	copy(dev.data[x:], old)
	held := holdWrite(t, dev, x)
	if before != nil {
		before()
	}
	c := ts.raw(t)
	c.open(export)
	c.request(cmdWrite, 0, 1, uint64(x), uint32(len(fresh)), fresh)
	held.waitEntered(t)
	return c, held
}

// readOnNewConn opens a new connection to export and sends a READ of n
// bytes at x; the reply arrives on the channel.
func (ts *testServer) readOnNewConn(t testing.TB, export string, x int64, n int) <-chan readResult {
	t.Helper()
	c := ts.raw(t)
	c.open(export)
	c.request(cmdRead, 0, 7, uint64(x), uint32(n), nil)
	return c.readAsync(n)
}

// TestNewConnectionWaitsForEndedOnes: connection A's WRITE is in the
// device when A ends; a new connection B to the export must not run its
// READ of the same block before that write completes, and must read A's
// data. A live connection C keeps working while B waits.
func TestNewConnectionWaitsForEndedOnes(t *testing.T) {
	const x, y = 64 << 10, 128 << 10
	ends := []struct {
		name string
		end  func(a *rawConn)
	}{
		{"socket closed without DISC", func(a *rawConn) { a.Close() }},
		{"DISC", func(a *rawConn) { a.request(cmdDisc, 0, 2, 0, 0, nil) }},
		{"protocol error", func(a *rawConn) {
			b := appendRequestHeader(nil, request{cmd: cmdRead, length: 512})
			b[0] ^= 1
			a.write(b)
		}},
	}
	for _, mode := range servingModes {
		for i, tt := range ends {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				ts := startServer(t, "tcp", servingMode(mode.alone))
				export := fmt.Sprint("disk", i)
				old, fresh := pattern(4096, 1), pattern(4096, 2)
				// C connects before A's write: a new connection waits for a
				// request a reader serves alone, whether its client is
				// there or not.
				var live *Client
				buf := make([]byte, 4096)
				a, held := ts.heldWriteFrom(t, export, x, old, fresh, func() {
					live = ts.dial(t, export)
					// A completed request shows the server has C in
					// transmission: it entered before A ended, so it is
					// not fenced.
					if _, err := live.ReadAt(buf, y); err != nil {
						t.Fatalf("live connection read: %v", err)
					}
				})
				ts.waitHeld(t, export, mode.alone, func() { tt.end(a) })

				got := ts.readOnNewConn(t, export, x, len(old))
				// C is live: its I/O goes on while B waits.
				if _, err := live.WriteAt(pattern(4096, 3), y); err != nil {
					t.Fatalf("live connection write: %v", err)
				}
				if _, err := live.ReadAt(buf, y); err != nil || !bytes.Equal(buf, pattern(4096, 3)) {
					t.Fatalf("live connection read: %v", err)
				}
				expectHeldUntil(t, got, held, fresh, "the ended connection's write")
			})
		}
	}
}

// expectHeldUntil checks that a new connection's read, got, does not
// complete while held (what) is in the device, and reads want once it has
// completed. A wrong server answers at once, so 200 ms gives it the
// chance; the right one is waited for up to testTimeout.
func expectHeldUntil(t *testing.T, got <-chan readResult, held *heldWrite, want []byte, what string) {
	t.Helper()
	select {
	case res := <-got:
		t.Fatalf("B's read completed (%+v, %v) while %s was still in the device", res.r, res.err, what)
	case <-time.After(200 * time.Millisecond):
	}
	held.open()
	select {
	case res := <-got:
		res.check(t, want)
	case <-time.After(testTimeout):
		t.Fatalf("B's read did not complete after %s did", what)
	}
}

// TestNewConnectionDoesNotWaitForLiveOnes: a live connection with a write
// held in the device does not hold up a new connection when a worker
// serves that write: its reader, still reading, shows the client is there.
func TestNewConnectionDoesNotWaitForLiveOnes(t *testing.T) {
	const x = 64 << 10
	ts := startServer(t, "unix", servingMode(false))
	old := pattern(4096, 1)
	c, held := ts.heldWriteFrom(t, "disk", x, old, pattern(4096, 2), nil)
	select {
	case res := <-ts.readOnNewConn(t, "disk", x, len(old)):
		res.check(t, old)
	case <-time.After(testTimeout):
		t.Fatal("a new connection waited for a live connection's request")
	}
	held.open()
	if r := c.reply(); r.errno != 0 || r.cookie != 1 {
		t.Fatalf("live connection's write: %+v", r)
	}
}

// TestNewConnectionWaitsForLoneRequest: a reader serving a request itself
// cannot tell whether its client is still there, so a new connection
// waits for that request, and then goes on while the old connection
// stays live.
func TestNewConnectionWaitsForLoneRequest(t *testing.T) {
	const x = 64 << 10
	ts := startServer(t, "unix", servingMode(true))
	fresh := pattern(4096, 2)
	c, held := ts.heldWriteFrom(t, "disk", x, pattern(4096, 1), fresh, nil)
	ts.waitAlone(t, "disk", 1)
	expectHeldUntil(t, ts.readOnNewConn(t, "disk", x, len(fresh)), held, fresh, "a lone request")
	if r := c.reply(); r.errno != 0 || r.cookie != 1 {
		t.Fatalf("live connection's write: %+v", r)
	}
	c.request(cmdRead, 0, 3, x, uint32(len(fresh)), nil)
	select {
	case res := <-c.readAsync(len(fresh)):
		res.check(t, fresh)
	case <-time.After(testTimeout):
		t.Fatal("the old connection answered nothing after the new one went ahead")
	}
}

// TestFenceGivesUp: a request of an ended connection that never completes
// holds a new connection up for the fence timeout only.
func TestFenceGivesUp(t *testing.T) {
	const x = 64 << 10
	for _, mode := range servingModes {
		t.Run(mode.name, func(t *testing.T) {
			ts := startServer(t, "unix", servingMode(mode.alone), func(s *Server) { s.fenceTimeout = 100 * time.Millisecond })
			old := pattern(4096, 1)
			a, _ := ts.heldWriteFrom(t, "disk", x, old, pattern(4096, 2), nil)
			ts.waitHeld(t, "disk", mode.alone, func() { a.Close() })
			select {
			case res := <-ts.readOnNewConn(t, "disk", x, len(old)):
				res.check(t, old)
			case <-time.After(testTimeout):
				t.Fatal("the new connection still waits after the fence timeout")
			}
		})
	}
}
