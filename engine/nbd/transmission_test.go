package nbd

import (
	"bytes"
	"math"
	"testing"
)

// pattern returns n bytes that differ from block to block and run to run.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/512) ^ seed ^ byte(i)
	}
	return b
}

func TestCommands(t *testing.T) {
	const size = 1 << 20
	ts := startServer(t, "unix")
	payload := pattern(4096, 0x5a)
	tests := []struct {
		name     string
		readOnly bool
		fail     bool
		cmd      uint16
		flags    uint16
		off      uint64
		length   uint32
		payload  []byte
		want     uint32
	}{
		{name: "read", cmd: cmdRead, off: 4096, length: 4096},
		{name: "read zero length", cmd: cmdRead, off: 0, length: 0},
		{name: "read last block", cmd: cmdRead, off: size - 512, length: 512},
		{name: "read past end", cmd: cmdRead, off: size - 512, length: 1024, want: errInval},
		{name: "read huge offset", cmd: cmdRead, off: math.MaxUint64 - 511, length: 512, want: errInval},
		{name: "read misaligned", cmd: cmdRead, off: 100, length: 512, want: errInval},
		{name: "read over max payload", cmd: cmdRead, off: 0, length: MaxPayload + 512, want: errInval},
		{name: "read with DF flag", cmd: cmdRead, flags: 1 << 2, length: 512, want: errInval},
		{name: "read with FUA", cmd: cmdRead, flags: cmdFlagFUA, length: 512},
		{name: "write", cmd: cmdWrite, off: 8192, length: 4096, payload: payload},
		{name: "write FUA", cmd: cmdWrite, flags: cmdFlagFUA, off: 8192, length: 4096, payload: payload},
		{name: "write past end", cmd: cmdWrite, off: size - 2048, length: 4096, payload: payload, want: errNoSpc},
		{name: "write NO_HOLE", cmd: cmdWrite, flags: cmdFlagNoHole, length: 4096, payload: payload, want: errInval},
		{name: "write read-only", readOnly: true, cmd: cmdWrite, length: 4096, payload: payload, want: errPerm},
		{name: "flush", cmd: cmdFlush},
		{name: "flush read-only", readOnly: true, cmd: cmdFlush},
		{name: "trim", cmd: cmdTrim, off: 0, length: 8192},
		{name: "trim past end", cmd: cmdTrim, off: size, length: 512, want: errInval},
		{name: "trim read-only", readOnly: true, cmd: cmdTrim, length: 512, want: errPerm},
		{name: "write zeroes", cmd: cmdWriteZeroes, length: 8192},
		{name: "write zeroes NO_HOLE FUA", cmd: cmdWriteZeroes, flags: cmdFlagNoHole | cmdFlagFUA, length: 8192},
		{name: "write zeroes past end", cmd: cmdWriteZeroes, off: size, length: 512, want: errNoSpc},
		{name: "write zeroes read-only", readOnly: true, cmd: cmdWriteZeroes, length: 512, want: errPerm},
		{name: "cache (unsupported)", cmd: 5, length: 512, want: errInval},
		{name: "block status (unsupported)", cmd: 7, length: 512, want: errInval},
		{name: "unknown command", cmd: 0x77, want: errInval},
		{name: "device failure read", fail: true, cmd: cmdRead, length: 512, want: errIO},
		{name: "device failure write", fail: true, cmd: cmdWrite, length: 4096, payload: payload, want: errIO},
		{name: "device failure flush", fail: true, cmd: cmdFlush, want: errIO},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.name
			dev := ts.addMem(t, name, size, ExportOptions{ReadOnly: tt.readOnly})
			initial := pattern(size, byte(i))
			copy(dev.data, initial)
			dev.fail.Store(tt.fail)
			c := ts.raw(t)
			c.open(name)
			cookie := uint64(0xc0ffee00 + i)
			c.request(tt.cmd, tt.flags, cookie, tt.off, tt.length, tt.payload)
			r := c.reply()
			if r.cookie != cookie || r.errno != tt.want {
				t.Fatalf("reply cookie %#x errno %d, want %#x %d", r.cookie, r.errno, cookie, tt.want)
			}
			dev.fail.Store(false)
			if tt.cmd == cmdRead && r.errno == 0 {
				if got := c.read(int(tt.length)); !bytes.Equal(got, initial[tt.off:tt.off+uint64(tt.length)]) {
					t.Fatalf("read returned wrong data")
				}
			}
			data, durable := dev.snapshot()
			want := initial
			if r.errno == 0 {
				switch tt.cmd {
				case cmdWrite:
					want = append([]byte(nil), initial...)
					copy(want[tt.off:], tt.payload)
				case cmdTrim, cmdWriteZeroes:
					want = append([]byte(nil), initial...)
					clear(want[tt.off : tt.off+uint64(tt.length)])
				}
			}
			if !bytes.Equal(data, want) {
				t.Fatalf("device contents differ from what the request should leave")
			}
			if fua := tt.flags&cmdFlagFUA != 0 && tt.cmd != cmdRead && r.errno == 0; fua && !bytes.Equal(durable, want) {
				t.Fatalf("FUA reply came before the data was flushed")
			}
			// The stream is still in sync: another request is answered.
			c.request(cmdRead, 0, 1, 0, 512, nil)
			if r := c.reply(); r.errno != 0 || r.cookie != 1 {
				t.Fatalf("follow-up read: %+v", r)
			}
			c.read(512)
		})
	}
}

func TestFlushCoversRepliedWrites(t *testing.T) {
	ts := startServer(t, "tcp")
	dev := ts.addMem(t, "disk", 1<<20, ExportOptions{})
	c := ts.raw(t)
	c.open("disk")
	want := pattern(1<<20, 3)
	for off := 0; off < len(want); off += 64 << 10 {
		c.request(cmdWrite, 0, uint64(off), uint64(off), 64<<10, want[off:off+64<<10])
	}
	for range len(want) / (64 << 10) {
		if r := c.reply(); r.errno != 0 {
			t.Fatalf("write reply %+v", r)
		}
	}
	if _, durable := dev.snapshot(); bytes.Equal(durable, want) {
		t.Fatal("writes durable before FLUSH: the test cannot tell FLUSH works")
	}
	c.request(cmdFlush, 0, 99, 0, 0, nil)
	if r := c.reply(); r.errno != 0 || r.cookie != 99 {
		t.Fatalf("flush reply %+v", r)
	}
	if _, durable := dev.snapshot(); !bytes.Equal(durable, want) {
		t.Fatal("FLUSH replied before the replied writes were durable")
	}
}

func TestTransmissionDropsConnection(t *testing.T) {
	ts := startServer(t, "unix")
	ts.addMem(t, "disk", 1<<20, ExportOptions{})
	tests := []struct {
		name string
		send func(c *rawConn)
	}{
		{"bad request magic", func(c *rawConn) {
			b := appendRequestHeader(nil, request{cmd: cmdRead, length: 512})
			b[3] ^= 1
			c.write(b)
		}},
		{"write payload over max", func(c *rawConn) {
			c.request(cmdWrite, 0, 1, 0, MaxPayload+512, nil)
		}},
		{"disconnect", func(c *rawConn) {
			c.request(cmdDisc, 0, 1, 0, 0, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.raw(t)
			c.open("disk")
			tt.send(c)
			c.expectClosed()
		})
	}
}

func TestDisconnectFinishesOutstanding(t *testing.T) {
	ts := startServer(t, "unix")
	dev := ts.addMem(t, "disk", 1<<20, ExportOptions{})
	c := ts.raw(t)
	c.open("disk")
	want := pattern(256<<10, 9)
	const n = 32
	chunk := len(want) / n
	for i := range n {
		c.request(cmdWrite, 0, uint64(i), uint64(i*chunk), uint32(chunk), want[i*chunk:(i+1)*chunk])
	}
	c.request(cmdDisc, 0, 1000, 0, 0, nil)
	seen := map[uint64]bool{}
	for range n {
		r := c.reply()
		if r.errno != 0 || r.cookie >= n || seen[r.cookie] {
			t.Fatalf("reply %+v", r)
		}
		seen[r.cookie] = true
	}
	c.expectClosed()
	if data, _ := dev.snapshot(); !bytes.Equal(data[:len(want)], want) {
		t.Fatal("writes sent before DISC were not all applied")
	}
}

// TestFUAWriteUsesDeviceFUA: a FUA WRITE to a device with its own FUA path
// (bdev.FUAWriter) is that one durable write, not a write and a flush of
// the whole device; a device without one gets the write and the flush.
func TestFUAWriteUsesDeviceFUA(t *testing.T) {
	ts := startServer(t, "unix")
	dev := &fuaDevice{memDevice: newMemDevice(1<<20, 512)}
	if err := ts.AddExport("fua", dev, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	plain := ts.addMem(t, "plain", 1<<20, ExportOptions{})
	want := pattern(8192, 7)
	for _, name := range []string{"fua", "plain"} {
		c := ts.dial(t, name)
		if _, err := c.WriteAtFUA(want, 4096); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, durable := dev.snapshot(); !bytes.Equal(durable[4096:4096+len(want)], want) {
		t.Fatal("FUA write not durable on the FUA device")
	}
	if dev.fuaWrites.Load() != 1 || dev.flushes.Load() != 0 {
		t.Fatalf("FUA device: %d FUA writes, %d flushes; want 1 and 0", dev.fuaWrites.Load(), dev.flushes.Load())
	}
	if _, durable := plain.snapshot(); !bytes.Equal(durable[4096:4096+len(want)], want) || plain.flushes.Load() != 1 {
		t.Fatalf("plain device: FUA write not flushed (%d flushes)", plain.flushes.Load())
	}
}
