package nbd

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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
)

// conn is one client connection, first negotiating and then serving
// requests for one export.
type conn struct {
	srv *Server
	nc  net.Conn
	log *slog.Logger
	exp *export // set by Server.attach from the connection's goroutine

	stopping atomic.Bool
	sem      chan struct{}  // one slot per request in flight
	budget   budget         // payload bytes held by requests in flight
	inflight sync.WaitGroup // requests being served

	wmu    sync.Mutex // serialises replies
	broken bool       // a reply write failed; guarded by wmu

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
	c.transmit(e)
}

// stop makes the connection stop reading requests; those in flight finish
// and are answered, then the connection closes. It does not wait.
func (c *conn) stop() {
	c.stopping.Store(true)
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
	c.srv.forget(c)
	close(c.done)
}
