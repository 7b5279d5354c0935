package nbd

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// maxBatchFrames bounds the frames one vectored write sends, well under
// the kernel's iovec limit (IOV_MAX, 1024) with two slices a frame.
const maxBatchFrames = 128

// frame is one request or reply on the wire: a header and, for a WRITE
// request or a READ reply, its payload.
type frame struct {
	hdr  [requestHeaderLen]byte // room for the longer header of the two
	hlen int
	data []byte
	held int // payload bytes the sender accounts for until the frame is sent
	// src, when not nil, is the payload instead of data: its next
	// srcLen bytes go from its pipe to the socket (batchWriter.raw).
	// srcDone is closed once the writer is done with src, sent or
	// dropped: a reply can arrive before the writer's last step, and src
	// must not be reused before.
	src     bdev.SpliceSource
	srcLen  int
	srcDone chan struct{}
}

// batchWriter sends the frames of many goroutines on one connection. The
// goroutine that finds no write under way becomes the writer: it sends its
// frame and every frame queued meanwhile in one vectored write (writev),
// and goes on until the queue is empty; the others only queue theirs and
// return. Under load many requests or replies so share a system call and a
// TCP segment, where each used to take its own; a lone frame still goes
// out at once, with no timer or wait.
//
// A frame's header and data reach the socket in one piece, never
// interleaved with another frame's, and frames are sent in the order they
// were queued.
type batchWriter struct {
	nc net.Conn
	// raw is nc's socket, for frames whose payload is spliced into it;
	// nil when it has none (then no such frame is sent).
	raw syscall.RawConn
	// sent runs once for every frame queued, after it was written or, when
	// the connection broke, dropped; nil does nothing. It runs on the
	// writer's goroutine, which may not be the frame's sender: the frame's
	// data must stay untouched until then.
	sent func(*frame)

	mu      sync.Mutex
	queue   []frame
	spare   []frame // the other half of a double buffer, reused
	writing bool
	idle    sync.Cond // signalled when writing turns false; uses mu
	err     error     // the write that broke the connection; later sends fail with it

	iov [][]byte // reused by the writer only
}

// send queues f. When the caller becomes the writer it returns only after
// the queue drained, with the error of a failed write; the caller then
// owns the broken connection. Otherwise it returns nil at once, or the
// error of an earlier failed write.
func (w *batchWriter) send(f frame) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		w.done(&f)
		return err
	}
	if w.idle.L == nil {
		w.idle.L = &w.mu
	}
	w.queue = append(w.queue, f)
	if w.writing {
		w.mu.Unlock()
		return nil
	}
	w.writing = true
	// Yield once before the first write: the goroutines already runnable
	// (workers finishing requests, callers sending theirs) queue their
	// frames meanwhile and go out in the same writev. On a node with one
	// CPU they would otherwise run only after this write, each to find it
	// over and start a write of its own. With nothing else runnable the
	// yield returns at once.
	w.mu.Unlock()
	runtime.Gosched()
	w.mu.Lock()
	for {
		batch := w.queue
		w.queue = w.spare[:0]
		w.mu.Unlock()

		err := w.write(batch)
		for i := range batch {
			w.done(&batch[i])
			batch[i] = frame{} // drop references to payloads
		}

		w.mu.Lock()
		w.spare = batch[:0]
		if err != nil {
			w.err = err
			rest := w.queue
			w.queue = nil
			w.writing = false
			w.idle.Broadcast()
			w.mu.Unlock()
			for i := range rest {
				w.done(&rest[i])
			}
			return err
		}
		if len(w.queue) == 0 {
			w.writing = false
			w.idle.Broadcast()
			w.mu.Unlock()
			return nil
		}
	}
}

// quiesce waits until no write is under way. Once the connection is
// closed a write in progress ends promptly; a caller that then fails the
// frames' owners knows that none of their data is still being read.
func (w *batchWriter) quiesce() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.writing {
		w.idle.Wait()
	}
}

// write sends batch in vectored writes of at most maxBatchFrames frames.
// A frame whose payload is spliced ends a vectored write with its
// header; its payload follows straight from its source.
func (w *batchWriter) write(batch []frame) error {
	for len(batch) > 0 {
		n := min(len(batch), maxBatchFrames)
		iov := w.iov[:0]
		var spliced *frame
		for i := range batch[:n] {
			f := &batch[i]
			iov = append(iov, f.hdr[:f.hlen])
			if len(f.data) > 0 {
				iov = append(iov, f.data)
			}
			if f.src != nil {
				spliced, n = f, i+1
				break
			}
		}
		w.iov = iov
		var err error
		if len(iov) == 1 {
			_, err = w.nc.Write(iov[0])
		} else {
			bufs := net.Buffers(iov)
			_, err = bufs.WriteTo(w.nc)
		}
		clear(w.iov[:len(iov)]) // WriteTo consumed bufs; drop the payloads
		if err == nil && spliced != nil {
			err = spliced.src.SendTo(w.raw, spliced.srcLen)
		}
		if err != nil {
			return fmt.Errorf("write %d frames: %w", n, err)
		}
		batch = batch[n:]
	}
	return nil
}

func (w *batchWriter) done(f *frame) {
	if f.srcDone != nil {
		close(f.srcDone)
	}
	if w.sent != nil {
		w.sent(f)
	}
}
