package nbd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/bdev"
)

// ErrServerClosed is returned by Serve and AddExport after Close.
var ErrServerClosed = errors.New("nbd: server closed")

// ExportOptions configures one export.
type ExportOptions struct {
	// ReadOnly refuses writes, trims and write-zeroes with EPERM and
	// advertises NBD_FLAG_READ_ONLY.
	ReadOnly bool
	// Description is sent to clients that ask for NBD_INFO_DESCRIPTION.
	Description string
	// Key, when not empty, protects the export: a client must present it
	// (Dial's DialOptions.Key; on the wire the name "NAME?key=KEY") or is
	// refused at the handshake with NBD_REP_ERR_POLICY, before anything is
	// attached. A node's replica exports carry a key derived from the
	// cluster credential so that only the volume's engine and rebuild
	// peers write to them. NBD_OPT_LIST still lists the name.
	Key string
}

// ExportInfo describes an export for listings.
type ExportInfo struct {
	Name        string
	Size        int64
	ReadOnly    bool
	Description string
	// Protected reports whether the export has an access key (never the key).
	Protected   bool
	Connections int
}

// export is a device published under a name, with the connections to it.
type export struct {
	name  string
	dev   bdev.Device
	opts  ExportOptions
	conns map[*conn]struct{}
}

// Server serves exports over NBD. Its methods are safe for concurrent use.
//
// Ordering across connections: when a connection ends (EOF, reset, DISC,
// protocol error) the requests it had already read still run to
// completion. A new connection to the same export executes none of its
// requests until every request of the connections to that export that had
// ended when it was accepted into transmission has completed (bounded by
// 30 s, after which it logs and goes on). Connections still reading are
// not waited for: several live clients may share an export. This is what
// lets an engine restarted after a crash resync its replicas without a
// write the dead engine sent landing behind the resync. A dead connection
// the server has not yet seen end (its reader is still draining the socket
// or waits for a free request slot) counts as live; RemoveExport is the
// fence for that case.
//
// A connection whose client sends one request at a time has its reader
// serve each request itself (see serial), and a reader busy serving
// cannot see its client go. So a new connection also waits for the
// request such a reader is serving when it arrives, whether that client
// is still there or not, and then looks again.
type Server struct {
	log *slog.Logger
	buf bufferPool
	// fenceTimeout bounds how long a new connection waits for ended ones.
	fenceTimeout time.Duration
	// pipeCapacity is the capacity asked for the pipes WRITE payloads are
	// spliced through; 0 asks for pipeRoom, then pipeSize (tests ask for
	// less, to have payloads pass in pieces).
	pipeCapacity int
	// workersOnly hands every request to a worker goroutine, even a
	// serial client's (tests of the worker path).
	workersOnly bool
	// loneAfter is how many requests a new connection's client must send
	// one at a time before its reader serves them itself: serialWindow,
	// so that a client starts on workers and proves itself serial first
	// (tests of the lone path set 0).
	loneAfter int

	mu        sync.Mutex
	closed    bool
	exports   map[string]*export
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	serving   sync.WaitGroup // Serve calls
}

// NewServer returns a server with no exports. A nil log discards messages.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		log:          log,
		fenceTimeout: defaultFenceTimeout,
		loneAfter:    serialWindow,
		exports:      make(map[string]*export),
		conns:        make(map[*conn]struct{}),
		listeners:    make(map[net.Listener]struct{}),
	}
}

// AddExport publishes dev under name. Names are unique.
func (s *Server) AddExport(name string, dev bdev.Device, opts ExportOptions) error {
	if len(name) > maxStringLen {
		return fmt.Errorf("add export: name of %d bytes exceeds %d", len(name), maxStringLen)
	}
	if len(opts.Description) > maxStringLen {
		return fmt.Errorf("add export %q: description of %d bytes exceeds %d", name, len(opts.Description), maxStringLen)
	}
	if dev == nil {
		return fmt.Errorf("add export %q: nil device", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("add export %q: %w", name, ErrServerClosed)
	}
	if _, ok := s.exports[name]; ok {
		return fmt.Errorf("add export %q: already exported", name)
	}
	s.exports[name] = &export{name: name, dev: dev, opts: opts, conns: make(map[*conn]struct{})}
	s.log.Info("nbd export added", "export", name, "size", dev.Size(), "read_only", opts.ReadOnly, "protected", opts.Key != "")
	return nil
}

// RemoveExport unpublishes an export: new connections to it are refused at
// once, live ones stop reading requests, finish those in flight and close.
// It returns when every connection to the export is closed, so the caller
// may then close the device.
func (s *Server) RemoveExport(name string) error {
	s.mu.Lock()
	e, ok := s.exports[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("remove export %q: no such export", name)
	}
	delete(s.exports, name)
	conns := slices.Collect(maps.Keys(e.conns))
	s.mu.Unlock()
	stopConns(conns)
	s.log.Info("nbd export removed", "export", name, "connections_closed", len(conns))
	return nil
}

// Exports lists the exports sorted by name.
func (s *Server) Exports() []ExportInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ExportInfo, 0, len(s.exports))
	for _, e := range s.exports {
		out = append(out, ExportInfo{
			Name:        e.name,
			Size:        e.dev.Size(),
			ReadOnly:    e.opts.ReadOnly,
			Description: e.opts.Description,
			Protected:   e.opts.Key != "",
			Connections: len(e.conns),
		})
	}
	slices.SortFunc(out, func(a, b ExportInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Serve accepts connections on l until ctx is done, l is closed or the
// server is closed. Connections it accepted are then stopped (in-flight
// requests finish) and Serve returns once they are closed. It returns nil
// when stopped by ctx or Close, and the accept error otherwise.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	stopAfter := context.AfterFunc(ctx, func() { l.Close() })
	defer stopAfter()

	mine := make(map[*conn]struct{})
	var err error
	for {
		nc, aerr := l.Accept()
		if aerr != nil {
			err = aerr
			break
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			if err := tc.SetNoDelay(true); err != nil {
				s.log.Warn("nbd: set TCP_NODELAY", "remote", nc.RemoteAddr(), "err", err)
			}
		}
		c := s.newConn(nc)
		if c == nil {
			nc.Close()
			break
		}
		mine[c] = struct{}{}
		go c.serve()
		// Forget connections that ended so a long Serve does not grow.
		for c := range mine {
			select {
			case <-c.done:
				delete(mine, c)
			default:
			}
		}
	}
	s.mu.Lock()
	delete(s.listeners, l)
	closed := s.closed
	s.mu.Unlock()
	l.Close()
	for c := range mine {
		c.stop()
	}
	for c := range mine {
		<-c.done
	}
	if ctx.Err() != nil || closed {
		return nil
	}
	return fmt.Errorf("nbd serve %s: %w", l.Addr(), err)
}

// handle serves one already accepted connection and returns when it is
// closed. The fuzz tests drive the server through it over net.Pipe.
func (s *Server) handle(nc net.Conn) {
	c := s.newConn(nc)
	if c == nil {
		nc.Close()
		return
	}
	c.serve()
}

// Close stops accepting, stops every connection after its in-flight
// requests and waits for them and for every Serve call to return.
// Exports stay registered; devices are not closed.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()
	stopConns(conns)
	s.serving.Wait()
	return nil
}

// stopConns stops every connection after its in-flight requests, all at
// once, and waits until each is closed.
func stopConns(conns []*conn) {
	for _, c := range conns {
		c.stop()
	}
	for _, c := range conns {
		<-c.done
	}
}

// newConn registers a connection, or returns nil if the server is closed.
func (s *Server) newConn(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	c := &conn{
		srv:    s,
		nc:     nc,
		raw:    socketOf(nc),
		log:    s.log.With("remote", nc.RemoteAddr().String()),
		sem:    make(chan struct{}, maxOutstandingPerConn),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		serial: serial{wait: s.loneAfter},
	}
	c.budget.init(maxConnPayloadBytes)
	c.out = batchWriter{nc: nc, sent: c.replySent}
	s.conns[c] = struct{}{}
	return c
}

// attach binds c to e, or returns false if e was removed meanwhile or the
// server is closed.
func (s *Server) attach(c *conn, e *export) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exports[e.name] != e || s.closed {
		return false
	}
	e.conns[c] = struct{}{}
	c.exp = e
	return true
}

// lookup finds the export a client's wire name designates and checks the
// key it presents. The name is taken whole when it is an export, so a
// name that happens to contain the key suffix still opens; only otherwise
// is a key split off.
func (s *Server) lookup(wire string) lookupResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.exports[wire]; ok {
		return lookupResult{e: e, name: wire, allowed: e.opts.Key == ""}
	}
	name, key, keyed := splitWireName(wire)
	r := lookupResult{name: name, keyed: keyed}
	if !keyed {
		return r
	}
	r.e = s.exports[name]
	// A key presented to an open export is ignored: the client holds the
	// credential and the node serving it does not use one.
	r.allowed = r.e != nil && (r.e.opts.Key == "" || keyMatches(r.e.opts.Key, key))
	return r
}

// exportNames lists export names for NBD_OPT_LIST.
func (s *Server) exportNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.exports))
}

// readerEnded records that c reads no more requests; those it started may
// still be running.
func (s *Server) readerEnded(c *conn) {
	s.mu.Lock()
	c.ended = true
	s.endAloneLocked(c)
	s.mu.Unlock()
}

// beginAlone records that c's reader serves a request itself.
func (s *Server) beginAlone(c *conn) {
	s.mu.Lock()
	c.alone = true
	s.mu.Unlock()
}

// endAlone records that the request c's reader served itself is done.
func (s *Server) endAlone(c *conn) {
	s.mu.Lock()
	s.endAloneLocked(c)
	s.mu.Unlock()
}

func (s *Server) endAloneLocked(c *conn) {
	c.alone = false
	if c.aloneDone != nil {
		close(c.aloneDone)
		c.aloneDone = nil
	}
}

// fenceWait is something a new connection's fence waits for.
type fenceWait struct {
	done   <-chan struct{}
	remote string
}

// fenceWaits lists what the fence of c, a new connection to e, must wait
// for now: each connection to e whose reader has ended, until it is
// closed, and each whose reader serves a request itself, until that
// request is done. A connection in waited had a lone request waited for
// already; serving another one since, it has read a request after c's
// fence began, so its client is alive and it is not waited for again.
func (s *Server) fenceWaits(c *conn, e *export, waited map[*conn]bool) []fenceWait {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fenceWait
	for old := range e.conns {
		switch {
		case old == c:
		case old.ended:
			out = append(out, fenceWait{done: old.done, remote: old.nc.RemoteAddr().String()})
		case old.alone && !waited[old]:
			waited[old] = true
			if old.aloneDone == nil {
				old.aloneDone = make(chan struct{})
			}
			out = append(out, fenceWait{done: old.aloneDone, remote: old.nc.RemoteAddr().String()})
		}
	}
	return out
}

// forget drops a closed connection from the server and its export.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.exp != nil {
		delete(c.exp.conns, c)
	}
}
