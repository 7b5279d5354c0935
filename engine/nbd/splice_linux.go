//go:build linux

package nbd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"syscall"
	"unsafe"

	"github.com/faultline/faultline/engine/bdev"
)

const (
	// spliceMin is the smallest WRITE payload received by splicing: below
	// it the copy saved does not pay for the extra system calls.
	spliceMin = 128 << 10
	// pipeSize is the capacity a pipe gets at least: the most a process
	// may ask for by default (/proc/sys/fs/pipe-max-size).
	pipeSize = 1 << 20
	// pipeRoom is the capacity asked for first. A pipe holds a page, or a
	// piece of one, per slot, and a payload that crossed a socket or two
	// arrives in pieces: its megabyte can need more than the 256 slots of
	// a 1 MiB pipe, and then takes a second pipe (spliceSource). A
	// privileged process (CAP_SYS_RESOURCE) may have the larger pipe.
	pipeRoom = 4 << 20

	fSetPipeSz      = 1031 // F_SETPIPE_SZ, linux/fcntl.h
	spliceFMove     = 0x1  // SPLICE_F_MOVE
	spliceFNonblock = 0x2  // SPLICE_F_NONBLOCK
)

// pipe is a connection's pipe for receiving WRITE payloads by splice(2):
// the socket's pages move into it and go from it into the device's file,
// copied once, into the page cache. Its descriptors are blocking; the
// socket side waits for data through the runtime's poller.
type pipe struct {
	r, w int
	size int // capacity in bytes
}

func newPipe(capacity int) (*pipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	p := &pipe{r: fds[0], w: fds[1], size: 64 << 10}
	wants := []int{pipeRoom, pipeSize}
	if capacity > 0 {
		wants = []int{capacity}
	}
	for _, want := range wants {
		if n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(p.w), fSetPipeSz, uintptr(want)); errno == 0 {
			p.size = int(n)
			break
		}
	}
	return p, nil
}

func (p *pipe) close() {
	syscall.Close(p.r)
	syscall.Close(p.w)
}

// spliceSource is one WRITE payload held in pipes (bdev.SpliceSource).
// The reader receives it whole into its pipes before any device sees it:
// a device that takes locks never waits for the network under them, and a
// payload cut short by a dying client is never written in part. Its tees
// hold the same pages in pipes of their own.
//
// A payload takes a second pipe, and more up to maxPayloadPipes, when the
// first runs out of slots: a pipe holds a page, or a piece of one, per
// slot, and a payload that crossed two sockets arrives cut at every page
// boundary, so its megabyte needs a slot or two more than the 256 of a
// 1 MiB pipe.
type spliceSource struct {
	c      *conn
	segs   []segment // the pipes holding the payload's first bytes, in order
	inPipe int       // bytes of the payload in the pipes
	inSock int       // bytes of the payload still in the socket
	tees   []*spliceSource
}

// segment is one pipe of a payload and how many of its bytes it holds.
type segment struct {
	p *pipe
	n int
}

// maxPayloadPipes is the most pipes one payload is received into; a
// payload that needs more is read into a buffer instead.
const maxPayloadPipes = 4

var _ bdev.SpliceSource = (*spliceSource)(nil)

// take moves the next *n bytes of the payload out of its pipes, pipe by
// pipe: move takes up to m bytes from the pipe read end r and returns how
// many it took. It returns move's first error, *n then counting what is
// left, so that a caller may wait and call again after EAGAIN.
func (s *spliceSource) take(n *int, move func(r, m int) (int, error)) error {
	for *n > 0 {
		i := 0
		for i < len(s.segs) && s.segs[i].n == 0 {
			i++
		}
		if i == len(s.segs) {
			return fmt.Errorf("%d bytes asked of a payload whose pipes are empty", *n)
		}
		seg := &s.segs[i]
		m, err := move(seg.p.r, min(*n, seg.n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if m == 0 {
			return io.ErrUnexpectedEOF
		}
		seg.n -= m
		s.inPipe -= m
		*n -= m
	}
	return nil
}

// SpliceTo moves the next n bytes of the payload from the pipes into fd
// at off.
func (s *spliceSource) SpliceTo(fd int, off int64, n int) error {
	if n > s.inPipe {
		return fmt.Errorf("splice of %d bytes: the pipes hold %d", n, s.inPipe)
	}
	return s.take(&n, func(r, m int) (int, error) {
		k, err := syscall.Splice(r, nil, fd, &off, m, spliceFMove)
		return int(k), err
	})
}

// SendTo moves the next n bytes of the payload from the pipes into the
// socket raw, waiting while its buffer is full.
func (s *spliceSource) SendTo(raw syscall.RawConn, n int) error {
	if n > s.inPipe {
		return fmt.Errorf("send of %d bytes: the pipes hold %d", n, s.inPipe)
	}
	var serr error
	err := raw.Write(func(fd uintptr) bool {
		serr = s.take(&n, func(r, m int) (int, error) {
			k, err := syscall.Splice(r, nil, int(fd), nil, m, spliceFMove|spliceFNonblock)
			return int(k), err
		})
		return serr != syscall.EAGAIN // the socket's buffer is full: wait
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("splice into the socket: %w", err)
	}
	return nil
}

// Tee returns a source of the next n bytes in pipes of its own, one for
// each of this source's that holds some of them: the kernel duplicates
// the pipes' buffers, not the data (tee(2)).
func (s *spliceSource) Tee(n int) (bdev.SpliceSource, error) {
	if n > s.inPipe {
		return nil, fmt.Errorf("tee of %d bytes: the pipes hold %d", n, s.inPipe)
	}
	t := &spliceSource{c: s.c}
	s.tees = append(s.tees, t)
	for _, seg := range s.segs {
		if n == 0 {
			break
		}
		if seg.n == 0 {
			continue
		}
		p, err := s.c.pipes.get(s.c.srv.pipeCapacity)
		if err != nil {
			return nil, err
		}
		t.segs = append(t.segs, segment{p: p})
		want := min(n, seg.n)
		m, err := teeAll(seg.p.r, p.w, want)
		if err != nil {
			return nil, err
		}
		t.segs[len(t.segs)-1].n = m
		t.inPipe += m
		n -= m
	}
	return t, nil
}

// teeAll duplicates the first n bytes of the pipe r into the empty pipe w,
// whose capacity is r's: all of them at once, or it fails (tee starts from
// the head of the pipe each time, so a second call would duplicate the
// same bytes again).
func teeAll(r, w, n int) (int, error) {
	for {
		m, err := syscall.Tee(r, w, n, spliceFNonblock)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("tee: %w", err)
		}
		if int(m) != n {
			return 0, fmt.Errorf("tee duplicated %d of %d bytes", m, n)
		}
		return n, nil
	}
}

// ReadFull reads the next len(b) bytes of the payload into b: from the
// pipes, then from the socket (on the reader's goroutine only: a payload
// with bytes left in the socket never reaches a device or a worker).
func (s *spliceSource) ReadFull(b []byte) error {
	fromPipes := min(len(b), s.inPipe)
	got := 0
	err := s.take(&fromPipes, func(r, m int) (int, error) {
		k, err := syscall.Read(r, b[got:got+m])
		got += max(k, 0)
		return k, err
	})
	if err != nil {
		return fmt.Errorf("pipe read: %w", err)
	}
	b = b[got:]
	if len(b) > s.inSock {
		return fmt.Errorf("read of %d bytes: the payload has %d left", len(b), s.inSock)
	}
	if _, err := io.ReadFull(s.c.nc, b); err != nil {
		return err
	}
	s.inSock -= len(b)
	return nil
}

// left is how many bytes of the payload have not been taken yet.
func (s *spliceSource) left() int { return s.inPipe + s.inSock }

// discard reads and drops what is left of the payload.
func (s *spliceSource) discard() error {
	var scratch []byte
	for s.left() > 0 {
		if scratch == nil {
			scratch = make([]byte, min(s.left(), 64<<10))
		}
		if err := s.ReadFull(scratch[:min(len(scratch), s.left())]); err != nil {
			return err
		}
	}
	return nil
}

// releaseTees empties the tees' pipes and gives them back.
func (s *spliceSource) releaseTees() {
	for _, t := range s.tees {
		t.putPipes(t.discard())
	}
	clear(s.tees)
	s.tees = s.tees[:0]
}

// release drops what is left of the payload and gives the pipes back.
// It reports an error when the rest could not be read: the stream is
// then out of step.
func (s *spliceSource) release() error {
	s.releaseTees()
	err := s.discard()
	s.putPipes(err)
	return err
}

// putPipes gives the pipes back to the pool, which closes them after err.
func (s *spliceSource) putPipes(err error) {
	for _, seg := range s.segs {
		s.c.pipes.put(seg.p, err)
	}
	clear(s.segs)
	s.segs = s.segs[:0]
}

// maxSparePipes bounds the empty pipes a connection keeps for the next
// payloads and their tees: eight payloads in flight of two pipes each.
const maxSparePipes = 16

// pipePool holds a connection's empty pipes: one per spliced payload in
// flight and per tee of it.
type pipePool struct {
	mu   sync.Mutex
	free []*pipe
}

// get returns an empty pipe, a new one when none is free.
func (pp *pipePool) get(capacity int) (*pipe, error) {
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return p, nil
	}
	pp.mu.Unlock()
	return newPipe(capacity)
}

// put gives p back, or closes it when the pool is full or emptying it
// failed (err).
func (pp *pipePool) put(p *pipe, err error) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if err != nil || len(pp.free) >= maxSparePipes {
		p.close()
		return
	}
	pp.free = append(pp.free, p)
}

// closeAll closes the free pipes; the connection is done.
func (pp *pipePool) closeAll() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, p := range pp.free {
		p.close()
	}
	pp.free = nil
}

// receive starts taking the WRITE payload of n bytes into pipes: the
// bytes br had already buffered, copied, then as much of the rest as
// maxPayloadPipes pipes take, straight from the socket (fill). Without a
// pipe to be had it fails with errNoPipe, having taken nothing; any other
// error leaves the stream out of step.
func (c *conn) receive(br *bufio.Reader, n int) (*spliceSource, error) {
	p, err := c.pipes.get(c.srv.pipeCapacity)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoPipe, err)
	}
	s := &spliceSource{c: c, segs: []segment{{p: p}}, inSock: n}
	head := min(br.Buffered(), n)
	if head > 0 {
		b, _ := br.Peek(head)
		for len(b) > 0 {
			// The buffer is no larger than the smallest pipe, and
			// written bytes share slots: the pipe takes them all.
			m, err := syscall.Write(p.w, b)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				err = fmt.Errorf("pipe write: %w", err)
				s.putPipes(err)
				return nil, err
			}
			b = b[m:]
			s.segs[0].n += m
			s.inPipe += m
			s.inSock -= m
		}
		br.Discard(head)
	}
	if err := s.fill(); err != nil {
		s.putPipes(err)
		return nil, err
	}
	return s, nil
}

// errNoPipe means no pipe could be made; the payload goes the usual way.
var errNoPipe = errors.New("no pipe to splice through")

// fill moves the rest of the payload from the socket into the pipes,
// waiting for it to arrive, taking another pipe each time the last is
// full, until they hold all of it or maxPayloadPipes are full (or no
// further pipe could be had): the caller then reads the payload into a
// buffer.
func (s *spliceSource) fill() error {
	var serr error
	lowat := false
	defer func() {
		if lowat {
			// The next read is a request header.
			s.c.raw.Control(func(fd uintptr) { setRcvLowat(fd, 1) })
		}
	}()
	err := s.c.raw.Read(func(fd uintptr) bool {
		for s.inSock > 0 {
			last := &s.segs[len(s.segs)-1]
			m, err := syscall.Splice(int(fd), nil, last.p.w, nil, s.inSock, spliceFMove|spliceFNonblock)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				// Either side may be the cause: when the socket has
				// data, it is the pipe that is full.
				if queued(fd) == 0 {
					// Wake once the rest of the payload is here
					// rather than at each piece of it.
					lowat = setRcvLowat(fd, min(s.inSock, pipeSize)) || lowat
					return false
				}
				if len(s.segs) == maxPayloadPipes {
					return true
				}
				p, err := s.c.pipes.get(s.c.srv.pipeCapacity)
				if err != nil {
					return true
				}
				s.segs = append(s.segs, segment{p: p})
				continue
			case err != nil:
				serr = err
				return true
			case m == 0:
				serr = io.ErrUnexpectedEOF
				return true
			}
			last.n += int(m)
			s.inPipe += int(m)
			s.inSock -= int(m)
		}
		return true
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("splice from the socket: %w", err)
	}
	return nil
}

// setRcvLowat sets the bytes socket fd must have queued before it reads
// as ready (SO_RCVLOWAT: TCP then neither wakes a waiting reader nor
// reports the socket readable for less), and reports whether it could.
func setRcvLowat(fd uintptr, n int) bool {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n) == nil
}

// queued returns the bytes waiting in socket fd's receive queue (FIONREAD).
func queued(fd uintptr) int {
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0
	}
	return int(n)
}

// peekSocket reports whether the connection's socket has bytes waiting
// and whether the client has closed it (all it sent read), without
// waiting or taking anything. Without a socket to ask it reports neither.
func (c *conn) peekSocket() (waiting, closed bool) {
	if c.raw == nil {
		return false, false
	}
	var b [1]byte
	var n int
	var err error
	if cerr := c.raw.Control(func(fd uintptr) {
		n, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); cerr != nil {
		return false, false
	}
	switch {
	case err != nil:
		// EAGAIN: nothing waiting. Any other error: the next read says.
		return !errors.Is(err, syscall.EAGAIN), false
	case n == 0:
		return false, true
	}
	return true, false
}

// spliceable reports whether the WRITE r, whose header was just read, is
// received by splicing: a payload without flags, large enough and not
// larger than a pipe, within the export's range, to a device that takes
// writes from a splice, on a connection with a socket to splice from. Any
// other goes the usual way, which also reports its errors.
func (c *conn) spliceable(e *export, r request) bool {
	if c.raw == nil || r.flags != 0 || r.length < spliceMin || r.length > pipeSize || e.opts.ReadOnly {
		return false
	}
	if _, ok := e.dev.(bdev.SpliceWriter); !ok || r.offset > math.MaxInt64 {
		return false
	}
	return bdev.CheckRange(int64(r.offset), int64(r.length), e.dev.Size(), e.dev.BlockSize()) == nil
}

// doSpliced serves the WRITE r whose payload src holds whole: it has the
// device write it, gives the pipes back and replies. A device that
// declines gets the payload read into a buffer and written as usual. It
// reports an error when a pipe could not be read, after which the caller
// closes the connection.
func (c *conn) doSpliced(e *export, r request, src *spliceSource, held int) error {
	defer func() {
		<-c.sem
		c.inflight.Done()
	}()
	errno, err := c.writeSpliced(e, r, src)
	if rerr := src.release(); err == nil {
		err = rerr
	}
	if err != nil {
		c.budget.release(held)
		return err
	}
	c.reply(r.cookie, errno, nil, held)
	return nil
}

// writeSpliced has the device write the payload of r from src and returns
// the request's errno, or an error when the payload could not be read.
func (c *conn) writeSpliced(e *export, r request, src *spliceSource) (uint32, error) {
	ok, werr := e.dev.(bdev.SpliceWriter).WriteFromSplice(src, int(r.length), int64(r.offset))
	src.releaseTees()
	switch {
	case !ok:
		payload := c.srv.buf.get(int(r.length))
		defer c.srv.buf.put(payload)
		if err := src.ReadFull(payload); err != nil {
			return 0, err
		}
		errno, _ := c.exec(e, r, payload)
		return errno, nil
	case werr != nil:
		return c.deviceErr(e, r, werr), nil
	}
	return 0, nil
}

// unsplice takes a payload the pipe could not hold whole out of it: the
// pipe's part, then the rest from the socket, into a buffer, and gives
// the pipe back. The request then goes the usual way: no byte of a
// payload reaches a device before all of it has arrived, so a client
// that dies part way through a write changes nothing.
func (c *conn) unsplice(src *spliceSource, n int) ([]byte, error) {
	payload := c.srv.buf.get(n)
	err := src.ReadFull(payload)
	if rerr := src.release(); err == nil {
		err = rerr
	}
	if err != nil {
		c.srv.buf.put(payload)
		return nil, err
	}
	return payload, nil
}

// socketOf returns the socket of nc to splice from, or nil.
func socketOf(nc net.Conn) syscall.RawConn {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	raw, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
