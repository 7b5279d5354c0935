package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// TestAbuseLeavesServerServing replays what a hostile or broken client on
// the same host sent the node's NBD server in the hardening review: each
// case must end in an error reply or a dropped connection, never a crash,
// a hang or a changed byte, and the server must go on serving a normal
// client the same data afterwards.
func TestAbuseLeavesServerServing(t *testing.T) {
	const size = 1 << 20
	ts := startServer(t, "tcp")
	dev := ts.addMem(t, "disk", size, ExportOptions{})
	want := pattern(size, 7)
	seed := ts.dial(t, "disk")
	if _, err := seed.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if err := seed.Flush(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		run  func(t *testing.T, c *rawConn)
	}{
		{"garbage instead of client flags", func(t *testing.T, c *rawConn) {
			c.read(greetingLen)
			c.write(bytes.Repeat([]byte{0xff}, 64))
			c.expectClosed()
		}},
		{"garbage option magic", func(t *testing.T, c *rawConn) {
			c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
			c.write(bytes.Repeat([]byte{0x41}, 16))
			c.expectClosed()
		}},
		{"4 GiB option length", func(t *testing.T, c *rawConn) {
			c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
			b := binary.BigEndian.AppendUint64(nil, optMagic)
			b = binary.BigEndian.AppendUint32(b, optGo)
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			c.write(b)
			c.expectClosed()
		}},
		{"read past the end", func(t *testing.T, c *rawConn) {
			c.open("disk")
			c.request(cmdRead, 0, 1, size-512, 4096, nil)
			if r := c.reply(); r.errno != errInval || r.cookie != 1 {
				t.Fatalf("reply %+v, want EINVAL for cookie 1", r)
			}
		}},
		{"write past the end", func(t *testing.T, c *rawConn) {
			c.open("disk")
			c.request(cmdWrite, 0, 2, size, 512, make([]byte, 512))
			// The NBD spec: a write beyond the end SHOULD get ENOSPC.
			if r := c.reply(); r.errno != errNoSpc || r.cookie != 2 {
				t.Fatalf("reply %+v, want ENOSPC for cookie 2", r)
			}
		}},
		{"offset overflow", func(t *testing.T, c *rawConn) {
			c.open("disk")
			c.request(cmdWrite, 0, 3, ^uint64(0)-511, 512, make([]byte, 512))
			if r := c.reply(); r.errno != errNoSpc || r.cookie != 3 {
				t.Fatalf("reply %+v, want ENOSPC for cookie 3", r)
			}
		}},
		{"4 GiB write header", func(t *testing.T, c *rawConn) {
			c.open("disk")
			c.request(cmdWrite, 0, 4, 0, 0xffffffff, nil)
			c.expectClosed()
		}},
		{"4 GiB read", func(t *testing.T, c *rawConn) {
			c.open("disk")
			c.request(cmdRead, 0, 5, 0, 0xffffffff, nil)
			r := c.reply()
			if r.errno == 0 {
				t.Fatalf("a 4 GiB read of a 1 MiB export succeeded: %+v", r)
			}
		}},
		{"half-sent write", func(t *testing.T, c *rawConn) {
			c.open("disk")
			c.request(cmdWrite, 0, 6, 0, 64<<10, make([]byte, 10<<10))
			c.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, ts.raw(t))
			checkServes(t, ts, dev, want)
		})
	}
}

// TestManyIdleSessions: hundreds of connections that greet and then say
// nothing neither block a real client nor outlive their sockets.
func TestManyIdleSessions(t *testing.T) {
	const size = 1 << 20
	ts := startServer(t, "tcp")
	dev := ts.addMem(t, "disk", size, ExportOptions{})
	want := make([]byte, size)
	idle := make([]net.Conn, 0, 300)
	for range 300 {
		nc, err := net.DialTimeout(ts.network, ts.addr, testTimeout)
		if err != nil {
			t.Fatalf("dial idle session %d: %v", len(idle), err)
		}
		idle = append(idle, nc)
	}
	t.Cleanup(func() {
		for _, nc := range idle {
			nc.Close()
		}
	})
	// Half of them negotiate an export and then go quiet.
	for _, nc := range idle[:150] {
		if err := nc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
			t.Fatal(err)
		}
		(&rawConn{t: t, Conn: nc}).open("disk")
	}
	checkServes(t, ts, dev, want)
	for _, nc := range idle {
		nc.Close()
	}
	deadline := time.Now().Add(testTimeout)
	for {
		exports := ts.Exports()
		if len(exports) == 1 && exports[0].Connections == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("closed sessions still counted: %+v", exports)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkServes(t, ts, dev, want)
}

// checkServes dials the export afresh and requires it to read back want,
// on the client and on the device itself.
func checkServes(t *testing.T, ts *testServer, dev *memDevice, want []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, ts.network, ts.addr, "disk")
	if err != nil {
		t.Fatalf("a normal client cannot connect after the abuse: %v", err)
	}
	defer c.Close()
	got := make([]byte, len(want))
	if _, err := c.ReadAt(got, 0); err != nil {
		t.Fatalf("read after the abuse: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the export's data changed")
	}
	if data, _ := dev.snapshot(); !bytes.Equal(data, want) {
		t.Fatal("the device's data changed")
	}
}
