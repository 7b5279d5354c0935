//go:build linux

package nbd

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
)

// spliceDevice is a file device that counts the writes it takes from a
// splice, and can decline them or fail one part way.
type spliceDevice struct {
	*aio.Device
	spliced atomic.Int64 // writes taken from a splice
	decline atomic.Bool
	// declineAfter, when positive, declines once that many were taken.
	declineAfter atomic.Int64
	failHalf     atomic.Bool // the next splice writes half and fails
}

var errHalf = errors.New("injected: failed half way")

func (d *spliceDevice) WriteFromSplice(src bdev.SpliceSource, n int, off int64) (bool, error) {
	if d.decline.Load() {
		return false, nil
	}
	d.spliced.Add(1)
	if d.failHalf.CompareAndSwap(true, false) {
		half := n / 2
		if _, err := d.Device.WriteFromSplice(src, half, off); err != nil {
			return true, err
		}
		return true, errHalf
	}
	return d.Device.WriteFromSplice(src, n, off)
}

func newSpliceDevice(t *testing.T, size int64) *spliceDevice {
	t.Helper()
	dev, err := aio.Open(filepath.Join(t.TempDir(), "disk.img"), aio.Options{Create: true, Size: size, BlockSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return &spliceDevice{Device: dev}
}

// TestSpliceWrite writes large payloads, which the server receives into a
// pipe and splices into the file, between small ones that leave part of
// the next payload in the reader's buffer, and reads every byte back.
func TestSpliceWrite(t *testing.T) {
	tests := []struct {
		network  string
		capacity int // of the pipes (0: as the server asks)
	}{
		{"tcp", 0},
		{"unix", 0},
		// A payload needs several of these pipes; one that needs more
		// than maxPayloadPipes is read into a buffer.
		{"tcp", 64 << 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/pipe%d", tt.network, tt.capacity), func(t *testing.T) {
			const size = 8 << 20
			ts := startServer(t, tt.network, func(s *Server) { s.pipeCapacity = tt.capacity })
			dev := newSpliceDevice(t, size)
			if err := ts.AddExport("disk", dev, ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			c := ts.dial(t, "disk")
			want := make([]byte, size)
			rng := rand.New(rand.NewPCG(1, 2))
			lengths := []int{spliceMin, 1 << 20, 1<<20 - 4096, 512, 3 * 4096, spliceMin + 512, 1<<20 + 4096, 2 << 20}
			large := 0
			for i := range 40 {
				n := lengths[i%len(lengths)]
				bdevtest.WriteRandom(t, c, rng, want, n)
				if n >= spliceMin && n <= pipeSize && (tt.capacity == 0 || n <= maxPayloadPipes*tt.capacity) {
					large++
				}
			}
			got := make([]byte, size)
			if _, err := c.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("device content differs from what was written (first difference at %d)", firstDiff(got, want))
			}
			// A payload whose pages do not all fit in its pipes is read
			// into a buffer instead: with small pipes every one larger
			// than all of them together, and a few more at most.
			n := dev.spliced.Load()
			if n < int64(large)/2 || n > int64(large) {
				t.Fatalf("%d of %d payloads of %d to %d bytes spliced", n, large, spliceMin, pipeSize)
			}
		})
	}
}

// TestSpliceWritePipelined sends large writes back to back without
// waiting, so that headers and payloads share reads, and checks the data.
func TestSpliceWritePipelined(t *testing.T) {
	const size = 16 << 20
	ts := startServer(t, "tcp")
	dev := newSpliceDevice(t, size)
	if err := ts.AddExport("disk", dev, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	rc := ts.raw(t)
	rc.open("disk")
	var stream []byte
	want := make([]byte, size)
	for i := range 16 {
		p := bytes.Repeat([]byte{byte(i + 1)}, pipeSize)
		off := uint64(i) * pipeSize
		copy(want[off:], p)
		stream = appendRequestHeader(stream, request{cmd: cmdWrite, cookie: uint64(i), offset: off, length: pipeSize})
		stream = append(stream, p...)
	}
	go rc.Write(stream) // the server replies while we still send
	for range 16 {
		if r := rc.reply(); r.errno != 0 {
			t.Fatalf("write %d: errno %d", r.cookie, r.errno)
		}
	}
	got := make([]byte, size)
	if _, err := dev.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("device content differs (first difference at %d)", firstDiff(got, want))
	}
	if n := dev.spliced.Load(); n < 8 {
		t.Fatalf("%d of 16 payloads spliced, want most", n)
	}
}

// TestSpliceDeclined: a device that declines the splice gets the payload
// in a buffer, and the data lands all the same.
func TestSpliceDeclined(t *testing.T) {
	ts := startServer(t, "tcp")
	dev := newSpliceDevice(t, 4<<20)
	dev.decline.Store(true)
	if err := ts.AddExport("disk", dev, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, "disk")
	p := bytes.Repeat([]byte("declined"), pipeSize/8)
	if _, err := c.WriteAt(p, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(p))
	if _, err := dev.ReadAt(got, 4096); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("read back %v, equal %v", err, bytes.Equal(got, p))
	}
}

// TestSplicePayloadCutShort: a client that dies part way through a
// WRITE's payload changes nothing on the device, whether the part it sent
// fits in the pipe or fills it: no byte of a payload is written before all
// of it has arrived (an engine killed mid-write must not leave a torn
// block on a replica).
func TestSplicePayloadCutShort(t *testing.T) {
	for _, capacity := range []int{0, 64 << 10} {
		t.Run(fmt.Sprintf("pipe%d", capacity), func(t *testing.T) {
			ts := startServer(t, "tcp", func(s *Server) { s.pipeCapacity = capacity })
			dev := newSpliceDevice(t, 4<<20)
			if err := ts.AddExport("disk", dev, ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			rc := ts.raw(t)
			rc.open("disk")
			hdr := appendRequestHeader(nil, request{cmd: cmdWrite, cookie: 1, offset: 0, length: pipeSize})
			rc.write(append(hdr, bytes.Repeat([]byte{0xee}, pipeSize-4096)...))
			rc.Close()
			// The server notices the end of the stream; then a write of
			// another connection shows it is done with the first.
			c := ts.dial(t, "disk")
			if _, err := c.WriteAt(make([]byte, 4096), 2<<20); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, pipeSize)
			if _, err := dev.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if i := bytes.IndexByte(got, 0xee); i >= 0 {
				t.Fatalf("byte %d of a payload that never arrived whole was written", i)
			}
		})
	}
}

// TestSpliceWriteFailsHalfWay: a device that fails after taking half the
// payload makes the write fail with EIO; the rest of the payload is read
// and dropped, so the next requests on the connection are read whole.
func TestSpliceWriteFailsHalfWay(t *testing.T) {
	ts := startServer(t, "tcp")
	dev := newSpliceDevice(t, 4<<20)
	if err := ts.AddExport("disk", dev, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, "disk")
	dev.failHalf.Store(true)
	p := bytes.Repeat([]byte{0xaa}, pipeSize)
	_, err := c.WriteAt(p, 0)
	var errno Errno
	if !errors.As(err, &errno) || errno != Errno(errIO) {
		t.Fatalf("write that failed half way: %v, want EIO", err)
	}
	q := bytes.Repeat([]byte{0x55}, pipeSize)
	if _, err := c.WriteAt(q, pipeSize); err != nil {
		t.Fatalf("the write after it: %v", err)
	}
	got := make([]byte, pipeSize)
	if _, err := c.ReadAt(got, pipeSize); err != nil || !bytes.Equal(got, q) {
		t.Fatalf("read back the second write: %v, equal %v", err, bytes.Equal(got, q))
	}
}

// TestSpliceReadOnlyAndFUA: a read-only export refuses a large write,
// and a FUA write goes the usual way, durable.
func TestSpliceReadOnlyAndFUA(t *testing.T) {
	ts := startServer(t, "tcp")
	ro := newSpliceDevice(t, 4<<20)
	rw := newSpliceDevice(t, 4<<20)
	if err := ts.AddExport("ro", ro, ExportOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := ts.AddExport("rw", rw, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	rc := ts.raw(t)
	rc.open("ro")
	rc.request(cmdWrite, 0, 1, 0, pipeSize, make([]byte, pipeSize))
	if r := rc.reply(); r.errno != errPerm {
		t.Fatalf("large write to a read-only export: errno %d, want EPERM", r.errno)
	}
	c := ts.dial(t, "rw")
	if _, err := c.WriteAtFUA(bytes.Repeat([]byte{7}, pipeSize), 0); err != nil {
		t.Fatal(err)
	}
	if ro.spliced.Load() != 0 || rw.spliced.Load() != 0 {
		t.Fatalf("spliced %d and %d writes, want none", ro.spliced.Load(), rw.spliced.Load())
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
