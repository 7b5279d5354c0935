package nbd

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testTimeout bounds every blocking step of a test; a hang fails instead
// of stalling the run.
const testTimeout = 20 * time.Second

// testServer is a server serving on one listener for the life of a test.
type testServer struct {
	*Server
	network, addr string
}

// startServer serves on a Unix socket (network "unix") or on 127.0.0.1
// port 0 (network "tcp") and stops everything when the test ends. Each
// configure function sees the server before it serves.
func startServer(t testing.TB, network string, configure ...func(*Server)) *testServer {
	t.Helper()
	var l net.Listener
	var err error
	switch network {
	case "unix":
		// t.TempDir paths can exceed the 108-byte socket path limit.
		dir, derr := os.MkdirTemp("", "nbd")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		l, err = net.Listen("unix", filepath.Join(dir, "s"))
	default:
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := NewServer(nil)
	for _, f := range configure {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after cancel")
		}
		s.Close()
	})
	return &testServer{Server: s, network: l.Addr().Network(), addr: l.Addr().String()}
}

// addMem exports a new in-memory device.
func (ts *testServer) addMem(t testing.TB, name string, size int64, opts ExportOptions) *memDevice {
	t.Helper()
	d := newMemDevice(size, 512)
	if err := ts.AddExport(name, d, opts); err != nil {
		t.Fatal(err)
	}
	return d
}

// dial opens a Client to an export and closes it when the test ends.
func (ts *testServer) dial(t testing.TB, export string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, ts.network, ts.addr, export)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawConn speaks the protocol byte by byte, to test the server's answers
// to exactly what a test sends.
type rawConn struct {
	t testing.TB
	net.Conn
}

func (ts *testServer) raw(t testing.TB) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout(ts.network, ts.addr, testTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := nc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, Conn: nc}
}

// greet reads the greeting, checks it and sends the client flags.
func (c *rawConn) greet(cflags uint32) {
	c.t.Helper()
	g := c.read(greetingLen)
	if binary.BigEndian.Uint64(g) != nbdMagic || binary.BigEndian.Uint64(g[8:]) != optMagic {
		c.t.Fatalf("greeting magics %x", g[:16])
	}
	if f := binary.BigEndian.Uint16(g[16:]); f != flagFixedNewstyle|flagNoZeroes {
		c.t.Fatalf("handshake flags %#x, want %#x", f, flagFixedNewstyle|flagNoZeroes)
	}
	c.write(binary.BigEndian.AppendUint32(nil, cflags))
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) read(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func (c *rawConn) option(opt uint32, data []byte) {
	c.t.Helper()
	c.write(appendOption(nil, opt, data))
}

func (c *rawConn) optReply(opt uint32) (uint32, []byte) {
	c.t.Helper()
	typ, data, err := readOptReply(c, opt)
	if err != nil {
		c.t.Fatalf("option reply: %v", err)
	}
	return typ, data
}

// goExport negotiates name with GO and returns its size and flags.
func (c *rawConn) goExport(name string) (uint64, uint16) {
	c.t.Helper()
	c.option(optGo, appendInfoRequest(nil, infoRequest{name: name}))
	var size uint64
	var flags uint16
	for {
		typ, data := c.optReply(optGo)
		switch typ {
		case repInfo:
			if binary.BigEndian.Uint16(data) == infoExport {
				size, flags = binary.BigEndian.Uint64(data[2:]), binary.BigEndian.Uint16(data[10:])
			}
		case repAck:
			return size, flags
		default:
			c.t.Fatalf("GO %q: reply type %#x %q", name, typ, data)
		}
	}
}

// open greets and negotiates name with GO.
func (c *rawConn) open(name string) {
	c.t.Helper()
	c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
	c.goExport(name)
}

func (c *rawConn) request(cmd, flags uint16, cookie, off uint64, length uint32, payload []byte) {
	c.t.Helper()
	b := appendRequestHeader(nil, request{cmd: cmd, flags: flags, cookie: cookie, offset: off, length: length})
	c.write(append(b, payload...))
}

func (c *rawConn) reply() reply {
	c.t.Helper()
	r, err := parseReplyHeader(c.read(replyHeaderLen))
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// expectClosed asserts that the server closes the connection (as opposed
// to answering or going silent).
func (c *rawConn) expectClosed() {
	c.t.Helper()
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err == nil {
		c.t.Fatalf("got %x, want the connection closed", b[:n])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open after %v", testTimeout)
	}
}
