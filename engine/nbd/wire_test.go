package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// testFrame makes sender's seq-th frame: a 20-byte header naming sender,
// seq and the data length, and data whose bytes derive from all three, so
// that a reader can tell a torn, interleaved or reordered frame.
func testFrame(sender, seq, n int) frame {
	f := frame{hlen: 20, data: make([]byte, n), held: n}
	binary.BigEndian.PutUint64(f.hdr[0:], uint64(sender))
	binary.BigEndian.PutUint64(f.hdr[8:], uint64(seq))
	binary.BigEndian.PutUint32(f.hdr[16:], uint32(n))
	for i := range f.data {
		f.data[i] = byte(sender*31 + seq*7 + i)
	}
	return f
}

// readTestFrames reads frames until EOF and checks each one whole and
// each sender's in order; it returns how many it read.
func readTestFrames(r io.Reader, senders int) (int, error) {
	next := make([]int, senders)
	var hb [20]byte
	for count := 0; ; count++ {
		if _, err := io.ReadFull(r, hb[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return count, nil
			}
			return count, err
		}
		sender := int(binary.BigEndian.Uint64(hb[0:]))
		seq := int(binary.BigEndian.Uint64(hb[8:]))
		n := int(binary.BigEndian.Uint32(hb[16:]))
		if sender >= senders || seq != next[sender] {
			return count, fmt.Errorf("frame %d: sender %d seq %d, want seq %d", count, sender, seq, next[sender])
		}
		next[sender]++
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return count, fmt.Errorf("frame %d data: %w", count, err)
		}
		for i, b := range data {
			if b != byte(sender*31+seq*7+i) {
				return count, fmt.Errorf("sender %d seq %d: byte %d differs: torn or interleaved", sender, seq, i)
			}
		}
	}
}

// TestBatchWriterFramesWholeAndInOrder has many goroutines send frames of
// mixed sizes at once: every frame must arrive whole, each sender's in
// the order sent, and sent must see every frame exactly once.
func TestBatchWriterFramesWholeAndInOrder(t *testing.T) {
	tests := []struct {
		name    string
		senders int
		frames  int
		sizes   []int
	}{
		{"one sender", 1, 200, []int{0, 4096}},
		{"headers only", 32, 100, []int{0}},
		{"small payloads", 32, 100, []int{0, 512, 4096}},
		{"large payloads", 8, 20, []int{4096, 1 << 20, 300 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			var sent, heldBytes atomic.Int64
			w := &batchWriter{nc: a, sent: func(f *frame) {
				sent.Add(1)
				heldBytes.Add(int64(f.held))
			}}
			type result struct {
				n   int
				err error
			}
			got := make(chan result, 1)
			go func() {
				n, err := readTestFrames(b, tt.senders)
				got <- result{n, err}
			}()
			var wg sync.WaitGroup
			var want int64
			for s := range tt.senders {
				for i := range tt.frames {
					want += int64(tt.sizes[(s+i)%len(tt.sizes)])
				}
				wg.Go(func() {
					for i := range tt.frames {
						if err := w.send(testFrame(s, i, tt.sizes[(s+i)%len(tt.sizes)])); err != nil {
							t.Errorf("sender %d frame %d: %v", s, i, err)
							return
						}
					}
				})
			}
			wg.Wait()
			w.quiesce()
			a.Close()
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			if total := tt.senders * tt.frames; r.n != total || sent.Load() != int64(total) {
				t.Fatalf("read %d frames, sent called %d times, want %d", r.n, sent.Load(), total)
			}
			if heldBytes.Load() != want {
				t.Fatalf("sent released %d held bytes, want %d", heldBytes.Load(), want)
			}
		})
	}
}

// failingConn accepts limit bytes and then fails every write.
type failingConn struct {
	net.Conn
	mu    sync.Mutex
	limit int
}

var errTestWrite = errors.New("test: write failed")

func (c *failingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) > c.limit {
		n := c.limit
		c.limit = 0
		return n, errTestWrite
	}
	c.limit -= len(p)
	return len(p), nil
}

// TestBatchWriterFailure checks that once a write fails every later send
// fails with its error, and that sent still sees every frame once, so a
// server returns every buffer and budget byte of a broken connection.
func TestBatchWriterFailure(t *testing.T) {
	const senders, frames = 16, 50
	var sent atomic.Int64
	w := &batchWriter{nc: &failingConn{limit: 100 << 10}, sent: func(*frame) { sent.Add(1) }}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for s := range senders {
		wg.Go(func() {
			for i := range frames {
				if err := w.send(testFrame(s, i, 4096)); err != nil {
					if !errors.Is(err, errTestWrite) {
						t.Errorf("send: %v, want it to wrap the write's error", err)
					}
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	w.quiesce()
	if sent.Load() != senders*frames {
		t.Fatalf("sent called %d times, want %d", sent.Load(), senders*frames)
	}
	if failed.Load() == 0 {
		t.Fatal("no send reported the failed write")
	}
	if err := w.send(testFrame(0, 0, 0)); !errors.Is(err, errTestWrite) {
		t.Fatalf("send after the failure: %v, want the write's error", err)
	}
}
