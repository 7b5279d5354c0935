package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/srcaddr"
)

const (
	// maxRangeChunk bounds the length of one TRIM or WRITE_ZEROES request
	// (the wire field is 32 bits).
	maxRangeChunk = 1 << 30
	// unackedTimeout is how long a TCP connection may leave sent data
	// unacknowledged (or keepalive probes unanswered) before it is
	// aborted and its pending calls fail (srcaddr.SetUserTimeout). Longhorn's
	// engine gives a replica 8 seconds by default.
	unackedTimeout = 8 * time.Second
	// discWriteTimeout bounds sending NBD_CMD_DISC on Close.
	discWriteTimeout = 5 * time.Second
	// replyReadBuffer is the buffer replies are read through.
	replyReadBuffer = 64 << 10
)

// Client is a connection to one NBD export. It implements bdev.Device and
// is safe for concurrent use: every call is a request of its own, many
// may be in flight, and replies are matched by cookie.
type Client struct {
	nc     net.Conn
	export string
	d      exportDetails

	out batchWriter // sends requests, batching those that queue up

	mu      sync.Mutex
	pending map[uint64]*call
	cookie  uint64
	err     error // why the connection is unusable, wraps ErrDisconnected
	closed  bool

	readerDone chan struct{}
}

// call is a request waiting for its reply.
type call struct {
	buf  []byte // READ destination
	done chan error
}

// Dial connects to addr ("tcp" or "unix") and opens export with
// NBD_OPT_GO, falling back to NBD_OPT_EXPORT_NAME. ctx bounds the dial and
// the handshake only.
func Dial(ctx context.Context, network, addr, export string) (*Client, error) {
	return DialWith(ctx, network, addr, export, DialOptions{})
}

// DialFrom is Dial with a TCP connection's local address bound to source,
// an IP ("" lets the kernel choose): a node dials from the address it
// serves at (package srcaddr says why).
func DialFrom(ctx context.Context, source, network, addr, export string) (*Client, error) {
	return DialWith(ctx, network, addr, export, DialOptions{Source: source})
}

// DialOptions are the optional parts of opening an export.
type DialOptions struct {
	// Source is the IP a TCP connection leaves from ("": the kernel's
	// choice); see DialFrom.
	Source string
	// Key is the export's access key (ExportOptions.Key), "" for an open
	// export. It is sent inside the export name the server sees and
	// appears in no error this package returns.
	Key string
}

// DialWith is Dial with options. A server that refuses the export for a
// missing or wrong key makes it fail with an error wrapping ErrRefused.
func DialWith(ctx context.Context, network, addr, export string, opts DialOptions) (*Client, error) {
	nc, err := dialConn(ctx, opts.Source, network, addr)
	if err != nil {
		return nil, fmt.Errorf("nbd dial %s %s: %w", network, addr, err)
	}
	var d exportDetails
	err = withContext(ctx, nc, func() error {
		var err error
		d, err = clientOpen(nc, export, opts.Key)
		return err
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nbd dial %s %s export %q: %w", network, addr, export, err)
	}
	return newClient(nc, export, d), nil
}

// newClient starts the transmission phase on nc, negotiated for export.
func newClient(nc net.Conn, export string, d exportDetails) *Client {
	c := &Client{
		nc:         nc,
		export:     export,
		d:          d,
		out:        batchWriter{nc: nc, raw: socketOf(nc)},
		pending:    make(map[uint64]*call),
		readerDone: make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// List returns the export names a server offers (NBD_OPT_LIST).
func List(ctx context.Context, network, addr string) ([]string, error) {
	nc, err := dialConn(ctx, "", network, addr)
	if err != nil {
		return nil, fmt.Errorf("nbd list %s %s: %w", network, addr, err)
	}
	defer nc.Close()
	var names []string
	err = withContext(ctx, nc, func() error {
		var err error
		names, err = clientList(nc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nbd list %s %s: %w", network, addr, err)
	}
	return names, nil
}

// clientList runs the handshake, NBD_OPT_LIST and NBD_OPT_ABORT.
func clientList(rw io.ReadWriter) ([]string, error) {
	if _, err := clientGreeting(rw); err != nil {
		return nil, err
	}
	if _, err := rw.Write(appendOption(nil, optList, nil)); err != nil {
		return nil, fmt.Errorf("send LIST: %w", err)
	}
	names := []string{}
	for {
		typ, data, err := readOptReply(rw, optList)
		if err != nil {
			return nil, err
		}
		if typ == repAck {
			break
		}
		if typ&(1<<31) != 0 {
			return nil, optError(optList, typ, data, "")
		}
		if typ != repServer {
			return nil, fmt.Errorf("unexpected reply type %d to LIST", typ)
		}
		if len(data) < 4 || uint64(binary.BigEndian.Uint32(data)) > uint64(len(data)-4) {
			return nil, errors.New("malformed NBD_REP_SERVER")
		}
		names = append(names, string(data[4:4+binary.BigEndian.Uint32(data)]))
	}
	// Either side may close after ABORT; the ACK is a courtesy.
	if _, err := rw.Write(appendOption(nil, optAbort, nil)); err == nil {
		_, _, _ = readOptReply(rw, optAbort)
	}
	return names, nil
}

// dialConn dials addr from source with TCP_NODELAY on TCP.
func dialConn(ctx context.Context, source, network, addr string) (net.Conn, error) {
	dialer, err := srcaddr.Dialer(source, network)
	if err != nil {
		return nil, err
	}
	nc, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(true); err != nil {
			nc.Close()
			return nil, fmt.Errorf("set TCP_NODELAY: %w", err)
		}
		if err := srcaddr.SetUserTimeout(tc, unackedTimeout); err != nil {
			nc.Close()
			return nil, fmt.Errorf("set TCP_USER_TIMEOUT: %w", err)
		}
	}
	return nc, nil
}

// withContext runs f, which does blocking I/O on nc, so that ctx being
// done (or its deadline) interrupts it.
func withContext(ctx context.Context, nc net.Conn, f func() error) error {
	if dl, ok := ctx.Deadline(); ok {
		if err := nc.SetDeadline(dl); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if !stop() {
		if err == nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	if err != nil {
		return err
	}
	return nc.SetDeadline(time.Time{})
}

// readLoop reads replies and completes their calls until the connection
// breaks; then every pending call fails. It reads through a buffer, so
// that replies that arrive together cost one system call.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	var hb [replyHeaderLen]byte
	br := bufio.NewReaderSize(c.nc, replyReadBuffer)
	for {
		if _, err := io.ReadFull(br, hb[:]); err != nil {
			c.fail(fmt.Errorf("read reply: %w", err))
			return
		}
		r, err := parseReplyHeader(hb[:])
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		cl, ok := c.pending[r.cookie]
		delete(c.pending, r.cookie)
		c.mu.Unlock()
		if !ok {
			c.fail(fmt.Errorf("reply with unknown cookie %#x", r.cookie))
			return
		}
		if r.errno != 0 {
			cl.done <- Errno(r.errno)
			continue
		}
		if len(cl.buf) > 0 {
			if _, err := io.ReadFull(br, cl.buf); err != nil {
				err = c.fail(fmt.Errorf("read reply data: %w", err))
				cl.done <- err
				return
			}
		}
		cl.done <- nil
	}
}

// fail marks the connection broken, closes it and fails every pending
// call. It returns the error calls now see.
func (c *Client) fail(cause error) error {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("nbd export %q: %w: %w", c.export, ErrDisconnected, cause)
	}
	err := c.err
	pending := c.pending
	c.pending = make(map[uint64]*call)
	c.mu.Unlock()
	c.nc.Close()
	// A call's payload may be in a write another goroutine is making:
	// wait for it, so that no caller reuses a buffer the socket still reads.
	c.out.quiesce()
	for _, cl := range pending {
		cl.done <- err
	}
	return err
}

// submit sends one request and returns the call to wait on.
func (c *Client) submit(cmd, flags uint16, off int64, length uint32, payload, buf []byte) (*call, error) {
	return c.submitFrame(cmd, flags, off, length, frame{data: payload}, buf)
}

// submitFrame sends one request whose payload f carries and returns the
// call to wait on.
func (c *Client) submitFrame(cmd, flags uint16, off int64, length uint32, f frame, buf []byte) (*call, error) {
	cl := &call{buf: buf, done: make(chan error, 1)}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.cookie++
	cookie := c.cookie
	c.pending[cookie] = cl
	c.mu.Unlock()

	f.hlen = len(appendRequestHeader(f.hdr[:0], request{flags: flags, cmd: cmd, cookie: cookie, offset: uint64(off), length: length}))
	if err := c.out.send(f); err != nil {
		// The call is still pending, so fail delivers to it as well.
		c.fail(fmt.Errorf("send request: %w", err))
	}
	return cl, nil
}

// roundTrip sends one request and waits for its reply.
func (c *Client) roundTrip(cmd, flags uint16, off int64, length uint32, payload, buf []byte) error {
	cl, err := c.submit(cmd, flags, off, length, payload, buf)
	if err != nil {
		return err
	}
	return <-cl.done
}

// chunked splits [off, off+n) into pieces of at most max bytes, sends a
// request for each without waiting and then collects every reply.
func (c *Client) chunked(n int64, off int64, max int64, send func(off, start, size int64) (*call, error)) error {
	return collect(startChunked(n, off, max, send))
}

// startChunked sends a request for each piece of [off, off+n) of at most
// max bytes, without waiting. It returns the calls sent and the error
// that stopped it sending more.
func startChunked(n int64, off int64, max int64, send func(off, start, size int64) (*call, error)) ([]*call, error) {
	calls := make([]*call, 0, (n+max-1)/max)
	for start := int64(0); start < n; start += max {
		size := min(max, n-start)
		cl, err := send(off+start, start, size)
		if err != nil {
			return calls, err
		}
		calls = append(calls, cl)
	}
	return calls, nil
}

// collect waits for every call and returns sendErr or else the first
// call's error.
func collect(calls []*call, sendErr error) error {
	firstErr := sendErr
	for _, cl := range calls {
		if err := <-cl.done; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// ReadAt reads len(p) bytes at off, in as many requests as the server's
// maximum payload needs.
func (c *Client) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("nbd read at %d: %w", off, bdev.ErrOutOfRange)
	}
	err := c.chunked(int64(len(p)), off, int64(c.d.maxPayload), func(o, start, size int64) (*call, error) {
		return c.submit(cmdRead, 0, o, uint32(size), nil, p[start:start+size])
	})
	if err != nil {
		return 0, fmt.Errorf("nbd read %d bytes at %d: %w", len(p), off, err)
	}
	return len(p), nil
}

// WriteAt writes p at off. The data is durable after Flush.
func (c *Client) WriteAt(p []byte, off int64) (int, error) {
	return c.write(p, off, 0)
}

// WriteAtFUA writes p at off and returns once it is durable (NBD FUA).
func (c *Client) WriteAtFUA(p []byte, off int64) (int, error) {
	if c.d.flags&FlagSendFUA == 0 {
		if n, err := c.write(p, off, 0); err != nil {
			return n, err
		}
		if err := c.Flush(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.write(p, off, cmdFlagFUA)
}

func (c *Client) write(p []byte, off int64, flags uint16) (int, error) {
	return c.startWrite(p, off, flags)()
}

// StartWriteAt sends the requests that write p at off and returns the
// function that waits for their replies (bdev.AsyncWriter). The data is
// durable after Flush, as with WriteAt.
func (c *Client) StartWriteAt(p []byte, off int64) (wait func() (int, error)) {
	return c.startWrite(p, off, 0)
}

// StartWriteFromSplice sends a WRITE of the next n bytes of src at off,
// its payload going from src's pipe straight into the socket
// (bdev.AsyncSpliceWriter), and returns the function that waits for the
// reply. A write that does not fit in one request, or a connection
// without a socket to splice into, reads src into a buffer and is sent as
// StartWriteAt sends it.
func (c *Client) StartWriteFromSplice(src bdev.SpliceSource, n int, off int64) (wait func() (int, error)) {
	if c.out.raw == nil || n <= 0 || n > int(c.d.maxPayload) || c.ReadOnly() || off < 0 {
		p := make([]byte, n)
		if err := src.ReadFull(p); err != nil {
			return func() (int, error) { return 0, fmt.Errorf("nbd write %d bytes at %d: read payload: %w", n, off, err) }
		}
		return c.startWrite(p, off, 0)
	}
	sent := make(chan struct{})
	cl, err := c.submitFrame(cmdWrite, 0, off, uint32(n), frame{src: src, srcLen: n, srcDone: sent}, nil)
	return func() (int, error) {
		if err == nil {
			err = <-cl.done
			<-sent // the reply may come before the writer has let go of src
		}
		if err != nil {
			return 0, fmt.Errorf("nbd write %d bytes at %d: %w", n, off, err)
		}
		return n, nil
	}
}

// startWrite sends p at off with flags in as many requests as the
// server's maximum payload needs and returns the function that waits
// for their replies.
func (c *Client) startWrite(p []byte, off int64, flags uint16) func() (int, error) {
	var err error
	switch {
	case c.ReadOnly():
		err = fmt.Errorf("nbd write at %d: %w", off, bdev.ErrReadOnly)
	case off < 0:
		err = fmt.Errorf("nbd write at %d: %w", off, bdev.ErrOutOfRange)
	}
	if err != nil {
		return func() (int, error) { return 0, err }
	}
	calls, sendErr := startChunked(int64(len(p)), off, int64(c.d.maxPayload), func(o, start, size int64) (*call, error) {
		return c.submit(cmdWrite, flags, o, uint32(size), p[start:start+size], nil)
	})
	return func() (int, error) {
		if err := collect(calls, sendErr); err != nil {
			return 0, fmt.Errorf("nbd write %d bytes at %d: %w", len(p), off, err)
		}
		return len(p), nil
	}
}

// Flush returns once every write that completed before it is durable.
// A server that does not offer FLUSH has no cache, so there is nothing to do.
func (c *Client) Flush() error {
	if c.d.flags&FlagSendFlush == 0 {
		return c.alive()
	}
	if err := c.roundTrip(cmdFlush, 0, 0, 0, nil, nil); err != nil {
		return fmt.Errorf("nbd flush: %w", err)
	}
	return nil
}

// Unmap discards a range with NBD TRIM, if the server offers it.
func (c *Client) Unmap(off, length int64) error {
	if c.ReadOnly() {
		return fmt.Errorf("nbd trim at %d: %w", off, bdev.ErrReadOnly)
	}
	if off < 0 || length < 0 {
		return fmt.Errorf("nbd trim %d bytes at %d: %w", length, off, bdev.ErrOutOfRange)
	}
	if c.d.flags&FlagSendTrim == 0 {
		return c.alive()
	}
	err := c.chunked(length, off, c.rangeChunk(), func(o, _, size int64) (*call, error) {
		return c.submit(cmdTrim, 0, o, uint32(size), nil, nil)
	})
	if err != nil {
		return fmt.Errorf("nbd trim %d bytes at %d: %w", length, off, err)
	}
	return nil
}

// WriteZeroes makes a range read as zeros, with NBD WRITE_ZEROES when the
// server offers it and by writing zero buffers otherwise.
func (c *Client) WriteZeroes(off, length int64) error {
	if c.ReadOnly() {
		return fmt.Errorf("nbd write zeroes at %d: %w", off, bdev.ErrReadOnly)
	}
	if off < 0 || length < 0 {
		return fmt.Errorf("nbd write zeroes %d bytes at %d: %w", length, off, bdev.ErrOutOfRange)
	}
	var err error
	if c.d.flags&FlagSendWriteZeroes != 0 {
		err = c.chunked(length, off, c.rangeChunk(), func(o, _, size int64) (*call, error) {
			return c.submit(cmdWriteZeroes, 0, o, uint32(size), nil, nil)
		})
	} else {
		zeros := make([]byte, min(length, int64(c.d.maxPayload)))
		err = c.chunked(length, off, int64(len(zeros)), func(o, _, size int64) (*call, error) {
			return c.submit(cmdWrite, 0, o, uint32(size), zeros[:size], nil)
		})
	}
	if err != nil {
		return fmt.Errorf("nbd write zeroes %d bytes at %d: %w", length, off, err)
	}
	return nil
}

// rangeChunk is the largest TRIM or WRITE_ZEROES length, block aligned.
func (c *Client) rangeChunk() int64 {
	return maxRangeChunk - maxRangeChunk%int64(c.BlockSize())
}

// alive returns the connection's error, if it broke.
func (c *Client) alive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Size is the export size learnt during the handshake.
func (c *Client) Size() int64 { return c.d.size }

// BlockSize is the server's minimum block size, at least 512.
func (c *Client) BlockSize() int { return int(max(c.d.minBlock, defaultMinimumBlockSize)) }

// ReadOnly reports whether the server exports the device read-only.
func (c *Client) ReadOnly() bool { return c.d.flags&FlagReadOnly != 0 }

// Flags returns the transmission flags the server advertised.
func (c *Client) Flags() uint16 { return c.d.flags }

// Remote reports whether the connection is TCP: the export may be on
// another machine (bdev.Remote). A Unix socket's server is on this one.
func (c *Client) Remote() bool {
	_, tcp := c.nc.(*net.TCPConn)
	return tcp
}

// Close sends NBD_CMD_DISC and closes the connection. Calls still pending
// and later calls fail with an error wrapping bdev.ErrClosed and
// ErrDisconnected.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	healthy := c.err == nil
	if healthy {
		c.err = fmt.Errorf("nbd export %q: %w: %w", c.export, bdev.ErrClosed, ErrDisconnected)
	}
	c.mu.Unlock()
	if healthy {
		_ = c.nc.SetWriteDeadline(time.Now().Add(discWriteTimeout))
		var f frame
		f.hlen = len(appendRequestHeader(f.hdr[:0], request{cmd: cmdDisc}))
		_ = c.out.send(f)
	}
	c.fail(bdev.ErrClosed)
	<-c.readerDone
	return nil
}

var (
	_ bdev.Device            = (*Client)(nil)
	_ bdev.AsyncSpliceWriter = (*Client)(nil)
)
