package nbd

import (
	"bufio"
	"errors"
	"io"
	"math"
	"net"
	"os"

	"github.com/faultline/faultline/engine/bdev"
)

// transmit reads requests and hands each to its own goroutine, at most
// maxOutstandingPerConn at once; a full window blocks the reader, which
// pushes back on the client. It returns on DISC, on a protocol violation,
// when the client goes away or when the connection is stopped; the
// caller then waits for the requests in flight.
//
// Requests are read through a buffer, so that the requests a client
// pipelines cost one read system call together rather than two each; a
// large WRITE payload still goes straight from the socket to its buffer.
//
// A request goes to an idle worker goroutine of the connection when there
// is one and to a new worker otherwise; workers end when the reader does.
// A client that sends one request at a time has the reader serve them
// itself (serial).
// A large WRITE to a device that takes splices has its payload received
// into pipes (spliceSource) rather than a buffer; one the pipes could not
// hold whole is read into a buffer after all.
func (c *conn) transmit(e *export) {
	var hb [requestHeaderLen]byte
	br := bufio.NewReaderSize(c.nc, requestReadBuffer)
	jobs := make(chan job)
	defer close(jobs)
	for {
		if c.stopping.Load() {
			return
		}
		if _, err := io.ReadFull(br, hb[:]); err != nil {
			if !c.stopping.Load() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("nbd: read request", "export", e.name, "err", err)
			}
			return
		}
		r, err := parseRequestHeader(hb[:])
		if err != nil {
			c.log.Warn("nbd: dropping connection", "export", e.name, "err", err)
			return
		}
		if r.cmd == cmdDisc {
			return
		}
		held := 0
		if (r.cmd == cmdRead || r.cmd == cmdWrite) && r.length <= MaxPayload {
			held = int(r.length)
		}
		if r.cmd == cmdWrite && r.length > MaxPayload {
			// The payload cannot be skipped safely: give up on the stream.
			c.log.Warn("nbd: dropping connection: write payload too large", "export", e.name, "length", r.length)
			return
		}
		c.sem <- struct{}{}
		c.budget.acquire(held)
		var src *spliceSource
		if r.cmd == cmdWrite && c.spliceable(e, r) {
			var err error
			if src, err = c.receive(br, int(r.length)); err != nil && !errors.Is(err, errNoPipe) {
				c.budget.release(held)
				<-c.sem
				c.log.Debug("nbd: receive write payload", "export", e.name, "err", err)
				return
			}
		}
		var payload []byte
		if src != nil && src.inSock > 0 {
			// The pipes filled up before the payload was all in: it goes
			// the usual way.
			var err error
			if payload, err = c.unsplice(src, int(r.length)); err != nil {
				c.budget.release(held)
				<-c.sem
				c.log.Debug("nbd: read write payload", "export", e.name, "err", err)
				return
			}
			src = nil
		}
		if r.cmd == cmdWrite && src == nil && payload == nil {
			payload = c.srv.buf.get(int(r.length))
			if _, err := io.ReadFull(br, payload); err != nil {
				c.srv.buf.put(payload)
				c.budget.release(held)
				<-c.sem
				c.log.Debug("nbd: read write payload", "export", e.name, "err", err)
				return
			}
		}
		c.inflight.Add(1)
		if alone := c.serial.arrived(len(c.sem), br.Buffered()); alone && src == nil && !c.srv.workersOnly {
			c.srv.beginAlone(c)
			c.do(e, r, payload, held)
			waiting, closed := c.peekSocket()
			if closed {
				return // the client went: end now, for the fences that wait
			}
			c.serial.served(waiting)
			c.srv.endAlone(c)
			continue
		}
		j := job{r: r, payload: payload, held: held, src: src}
		select {
		case jobs <- j:
		default:
			go c.work(e, j, jobs)
		}
	}
}

// job is a request read off the wire, with its WRITE payload and its
// share of the payload budget.
type job struct {
	r       request
	payload []byte
	held    int
	src     *spliceSource // a WRITE payload held whole in a pipe, instead of payload
}

// work serves j and then the jobs the reader hands it, until the reader
// ends. Reusing goroutines spares each request a fresh goroutine whose
// stack grows, copy by copy, to the depth of the device's call path (a
// raid1 over a remote replica is deep). There are at most as many
// workers as requests a connection may have in flight.
func (c *conn) work(e *export, j job, jobs <-chan job) {
	for {
		if j.src != nil {
			if err := c.doSpliced(e, j.r, j.src, j.held); err != nil {
				c.log.Debug("nbd: spliced write", "err", err)
				c.close()
			}
		} else {
			c.do(e, j.r, j.payload, j.held)
		}
		var ok bool
		if j, ok = <-jobs; !ok {
			return
		}
	}
}

// do serves one request and sends its reply. The reply holds the
// request's share of the payload budget until it is on the wire.
func (c *conn) do(e *export, r request, payload []byte, held int) {
	defer func() {
		<-c.sem
		c.inflight.Done()
	}()
	errno, data := c.exec(e, r, payload)
	c.srv.buf.put(payload)
	c.reply(r.cookie, errno, data, held)
}

// exec performs a request on the export's device. For a successful READ
// it returns the data in a pooled buffer.
func (c *conn) exec(e *export, r request, payload []byte) (errno uint32, data []byte) {
	allowed := cmdFlagFUA
	if r.cmd == cmdWriteZeroes {
		allowed |= cmdFlagNoHole
	}
	if r.flags&^allowed != 0 {
		return errInval, nil
	}
	dev := e.dev
	modifies := r.cmd == cmdWrite || r.cmd == cmdTrim || r.cmd == cmdWriteZeroes
	if modifies && e.opts.ReadOnly {
		return errPerm, nil
	}
	var off int64
	if r.cmd != cmdFlush {
		if r.offset > math.MaxInt64 {
			return errnoFor(bdev.ErrOutOfRange, r.cmd), nil
		}
		off = int64(r.offset)
		if err := bdev.CheckRange(off, int64(r.length), dev.Size(), dev.BlockSize()); err != nil {
			return errnoFor(err, r.cmd), nil
		}
	}
	var err error
	switch r.cmd {
	case cmdRead:
		if r.length > MaxPayload {
			return errInval, nil
		}
		data = c.srv.buf.get(int(r.length))
		var n int
		n, err = dev.ReadAt(data, off)
		if err != nil && !(errors.Is(err, io.EOF) && n == len(data)) {
			c.srv.buf.put(data)
			return c.deviceErr(e, r, err), nil
		}
		return 0, data
	case cmdWrite:
		if r.flags&cmdFlagFUA != 0 {
			// Durable on its own: a device with a FUA path spares
			// flushing everything else (bdev.FUAWriter).
			if _, err = bdev.WriteAtFUA(dev, payload, off); err != nil {
				return c.deviceErr(e, r, err), nil
			}
			return 0, nil
		}
		_, err = dev.WriteAt(payload, off)
	case cmdFlush:
		err = dev.Flush()
	case cmdTrim:
		err = dev.Unmap(off, int64(r.length))
	case cmdWriteZeroes:
		err = dev.WriteZeroes(off, int64(r.length))
	default:
		return errInval, nil
	}
	if err == nil && r.flags&cmdFlagFUA != 0 && r.cmd != cmdFlush {
		err = dev.Flush()
	}
	if err != nil {
		return c.deviceErr(e, r, err), nil
	}
	return 0, nil
}

// deviceErr logs a failed device call and maps it to an NBD error.
func (c *conn) deviceErr(e *export, r request, err error) uint32 {
	errno := errnoFor(err, r.cmd)
	c.log.Debug("nbd: request failed", "export", e.name, "cmd", r.cmd, "offset", r.offset, "length", r.length, "errno", errno, "err", err)
	return errno
}

// reply sends a simple reply, with data for a successful READ, and
// then returns data to the pool and held bytes to the budget. Replies go
// out in completion order, those that complete while another is being
// sent together in one write (batchWriter). A failed write breaks the
// connection: the socket is closed, which also ends the reader.
func (c *conn) reply(cookie uint64, errno uint32, data []byte, held int) {
	f := frame{data: data, held: held}
	f.hlen = len(appendReplyHeader(f.hdr[:0], reply{errno: errno, cookie: cookie}))
	if err := c.out.send(f); err != nil {
		if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
			c.log.Debug("nbd: send reply", "err", err)
		}
		c.close()
	}
}

// replySent releases what a reply held once it is written or dropped.
func (c *conn) replySent(f *frame) {
	c.srv.buf.put(f.data)
	c.budget.release(f.held)
}
