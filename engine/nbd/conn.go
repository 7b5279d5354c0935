package nbd

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// handshakeTimeout bounds a whole negotiation, so that idle or slow
	// clients cannot hold a connection before choosing an export.
	handshakeTimeout = 30 * time.Second
	// stopWriteGrace bounds how long replies to in-flight requests may
	// take to go out once a connection is being stopped.
	stopWriteGrace = 10 * time.Second
	// maxConnPayloadBytes bounds the READ and WRITE payloads one
	// connection holds in memory at once.
	maxConnPayloadBytes = 2 * MaxPayload
	// defaultFenceTimeout bounds how long a new connection waits for the
	// requests of ended connections to the same export (see Server).
	defaultFenceTimeout = 30 * time.Second
	// requestReadBuffer is the buffer a connection reads requests
	// through: many 4 KiB writes, or hundreds of headers.
	requestReadBuffer = 64 << 10
)

// conn is one client connection, first negotiating and then serving
// requests for one export.
type conn struct {
	srv *Server
	nc  net.Conn
	log *slog.Logger
	exp *export // set by Server.attach from the connection's goroutine

	stopping atomic.Bool
	stopOnce sync.Once
	quit     chan struct{} // closed by stop
	ended    bool          // the reader returned; guarded by srv.mu
	// alone says the reader is serving a request itself (serial);
	// aloneDone, when a new connection's fence waits for that request, is
	// closed when it is done. Guarded by srv.mu.
	alone     bool
	aloneDone chan struct{}
	sem       chan struct{}  // one slot per request in flight
	budget    budget         // payload bytes held by requests in flight
	inflight  sync.WaitGroup // requests being served

	out batchWriter // sends replies, batching those that queue up

	// serial says whether the client sends one request at a time, so
	// that the reader serves them itself; the reader's own.
	serial serial

	// raw is the socket large WRITE payloads are spliced from (nil: not a
	// TCP or Unix socket); pipes are the empty pipes they go through.
	raw   syscall.RawConn
	pipes pipePool

	closeOnce sync.Once
	done      chan struct{} // closed when the connection is closed and forgotten
}

// serve runs the handshake and then the transmission phase.
func (c *conn) serve() {
	defer c.finish()
	if err := c.nc.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		c.log.Debug("nbd: set handshake deadline", "err", err)
	}
	e, err := c.handshake()
	if err != nil {
		c.log.Debug("nbd: handshake ended", "err", err)
		return
	}
	if e == nil {
		return // client aborted
	}
	if err := c.nc.SetDeadline(time.Time{}); err != nil {
		c.log.Debug("nbd: clear handshake deadline", "err", err)
	}
	if !c.fence(e) {
		return
	}
	c.transmit(e)
	c.srv.readerEnded(c)
}

// fence waits until every request of the connections to e whose reader
// has ended is complete, so that none of them can land after a request of
// this connection (see Server). A connection whose reader is serving a
// request itself cannot see its client go until that request is done, so
// the fence waits for that request too, and then looks again: the
// connection may have ended meanwhile. It waits at most the server's fence
// timeout, then logs and goes on; it reports false if c is stopped
// meanwhile.
func (c *conn) fence(e *export) bool {
	timeout := time.NewTimer(c.srv.fenceTimeout)
	defer timeout.Stop()
	waited := map[*conn]bool{} // connections whose lone request was waited for
	for {
		waits := c.srv.fenceWaits(c, e, waited)
		if len(waits) == 0 {
			return true
		}
		for _, w := range waits {
			select {
			case <-w.done:
			case <-c.quit:
				return false
			case <-timeout.C:
				c.log.Warn("nbd: requests of an ended connection still running; serving the new one anyway",
					"export", e.name, "waited", c.srv.fenceTimeout, "ended_connection", w.remote)
				return true
			}
		}
	}
}

// stop makes the connection stop reading requests; those in flight finish
// and are answered, then the connection closes. It does not wait.
func (c *conn) stop() {
	c.stopping.Store(true)
	c.stopOnce.Do(func() { close(c.quit) })
	now := time.Now()
	_ = c.nc.SetReadDeadline(now)
	_ = c.nc.SetWriteDeadline(now.Add(stopWriteGrace))
}

// close closes the socket once.
func (c *conn) close() {
	c.closeOnce.Do(func() { c.nc.Close() })
}

// finish waits for in-flight requests, closes the socket and unregisters.
func (c *conn) finish() {
	c.inflight.Wait()
	c.close()
	c.pipes.closeAll()
	c.srv.forget(c)
	close(c.done)
}
