package jsonrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/credential"
)

// Handler serves one method. params is the raw "params" member (nil when
// absent). The returned value is marshalled as the result; a returned
// *Error chooses the error code, any other error becomes -32603 with the
// error's text. ctx is cancelled when the server shuts down.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Limits as in SPDK's lib/jsonrpc/jsonrpc_internal.h, except where noted.
const (
	// MaxConns is the number of connections served at once; more are
	// closed as soon as they are accepted.
	MaxConns = 64
	// MaxRequestSize bounds one JSON value (a request) in bytes.
	MaxRequestSize = 256 << 10
	// maxInFlight bounds the requests one connection may have running; the
	// reader stops reading until one completes (backpressure).
	maxInFlight = 64
)

// Server dispatches JSON-RPC requests to registered handlers.
type Server struct {
	log *slog.Logger

	mu      sync.RWMutex
	methods map[string]Handler
}

// NewServer returns a server with no methods. A nil log discards logs.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{log: log, methods: map[string]Handler{}}
}

// Register adds or replaces the handler of a method.
func (s *Server) Register(method string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods[method] = h
}

// Methods returns the registered method names, sorted.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.methods))
}

func (s *Server) handler(method string) (Handler, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.methods[method]
	return h, ok
}

// Serve accepts connections on l and serves each until ctx is done or l
// fails. It closes l and every connection before returning, after waiting
// for their handlers. Its connections need no authentication: it is for
// the Unix socket, the local administrator's door (ServeAuthenticated is
// for TCP).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, l, credential.Token{})
}

// serve is Serve, with connections that must authenticate with tok unless
// it is zero.
func (s *Server) serve(ctx context.Context, l net.Listener, tok credential.Token) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	slots := make(chan struct{}, MaxConns)
	for {
		conn, err := l.Accept()
		if err != nil {
			// Close here too: the closing goroutine may still be removing
			// the socket's files, and the caller may exit right after.
			l.Close()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("json-rpc accept on %s: %w", l.Addr(), err)
		}
		select {
		case slots <- struct{}{}:
		default:
			s.log.Warn("json-rpc connection refused: too many connections", "limit", MaxConns)
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.serveConn(ctx, conn, tok)
		}()
	}
}

// hangUp ends a connection whose authentication failed without losing the
// reply already written: it sends FIN after the reply and reads (and
// drops) what the client still sends for a moment before closing, because
// closing a TCP socket with unread input sends RST, and an RST can destroy
// the reply before the client reads it. A connection that cannot half-close
// is closed at once.
func hangUp(conn io.ReadWriteCloser, closeNow func()) {
	type halfCloser interface {
		CloseWrite() error
		SetReadDeadline(time.Time) error
	}
	hc, ok := conn.(halfCloser)
	if !ok || hc.CloseWrite() != nil || hc.SetReadDeadline(time.Now().Add(refuseDrain)) != nil {
		closeNow()
	}
}

// refuseDrain is how long a refused connection's input is still read and
// dropped before the connection closes (hangUp).
const refuseDrain = 2 * time.Second

// ServeConn serves one connection until the peer closes it, sends bytes
// that do not parse, or ctx is done; then it closes the connection.
func (s *Server) ServeConn(ctx context.Context, conn io.ReadWriteCloser) {
	s.serveConn(ctx, conn, credential.Token{})
}

// serveConn is ServeConn; unless tok is zero, the connection must
// authenticate with it within AuthTimeout, and is closed after a failed
// authentication.
func (s *Server) serveConn(ctx context.Context, conn io.ReadWriteCloser, tok credential.Token) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var auth *connAuth
	if !tok.IsZero() {
		auth = newConnAuth(tok, func() { hangUp(conn, cancel) })
		timer := time.AfterFunc(AuthTimeout, func() {
			if !auth.authenticated() {
				s.log.Warn("json-rpc connection closed: not authenticated in time", "timeout", AuthTimeout)
				cancel()
			}
		})
		defer timer.Stop()
	}
	s.serveStream(ctx, conn, conn, auth)
	conn.Close()
}

// serveStream reads requests from r and writes replies to w until r ends or
// fails to parse, and returns once every reply has been written. A non-nil
// auth gates the methods (connAuth.gate).
func (s *Server) serveStream(ctx context.Context, r io.Reader, w io.Writer, auth *connAuth) {
	out := &replyWriter{w: w}
	var wg sync.WaitGroup
	defer wg.Wait()
	inflight := make(chan struct{}, maxInFlight)
	br := &boundedReader{r: r, max: MaxRequestSize}
	dec := json.NewDecoder(br)
	br.dec = dec
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || ctx.Err() != nil {
				return
			}
			var syn *json.SyntaxError
			if errors.As(err, &syn) || errors.Is(err, errTooLarge) {
				// A streaming parser cannot resynchronise: reply and close.
				s.log.Debug("json-rpc parse error", "err", err)
				out.write(errorReply(nil, &Error{Code: CodeParseError, Message: "Parse error"}))
			}
			return
		}
		if len(bytes.TrimSpace(raw)) > MaxRequestSize {
			out.write(errorReply(nil, &Error{Code: CodeParseError, Message: "Parse error"}))
			return
		}
		select {
		case inflight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inflight }()
			reply, refused := s.dispatch(ctx, raw, auth)
			if reply != nil {
				out.write(reply)
			}
			// Only the goroutine of the failed attempt hangs up, after its
			// reply: another request's goroutine that saw the failure
			// could otherwise end the connection before that reply.
			if refused {
				s.log.Warn("json-rpc connection closed: authentication failed")
				auth.refuse()
			}
		}()
	}
}

// dispatch serves one top-level JSON value and returns the encoded reply,
// or nil when nothing is to be sent, and whether it was a failed
// authentication, after which the connection ends. Only an object is a request: SPDK
// does not support JSON-RPC batches and answers an array, like any other
// value, with one -32600 "Invalid request" (id null) and runs nothing
// (lib/jsonrpc/jsonrpc_server.c, jsonrpc_parse_request).
func (s *Server) dispatch(ctx context.Context, raw json.RawMessage, auth *connAuth) (reply []byte, refused bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return s.handle(ctx, raw, auth)
	}
	return errorReply(nil, &Error{Code: CodeInvalidRequest, Message: "Invalid request"}), false
}

// handle validates one request object, runs its handler and returns the
// encoded reply (nil for a notification that succeeded), and whether it
// was a failed authentication.
func (s *Server) handle(ctx context.Context, raw json.RawMessage, auth *connAuth) (reply []byte, refused bool) {
	req, id, rerr := parseRequest(raw)
	if rerr != nil {
		return errorReply(id, rerr), false
	}
	var (
		handled bool
		result  any
		err     error
	)
	if auth != nil {
		handled, result, err = auth.gate(req.method, req.params)
		refused = handled && req.method == MethodAuthenticate && err != nil
	}
	if !handled {
		h, ok := s.handler(req.method)
		if !ok {
			return errorReply(id, &Error{Code: CodeMethodNotFound, Message: "Method not found"}), false
		}
		result, err = s.call(ctx, h, req)
	}
	if err != nil {
		e := asError(err)
		s.log.Debug("json-rpc method failed", "method", req.method, "code", e.Code, "message", e.Message)
		return errorReply(id, e), refused
	}
	if id == nil {
		return nil, false // notification: the result is suppressed
	}
	reply, err = json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, result})
	if err != nil {
		return errorReply(id, Errorf(CodeInternalError, "encode result of %s: %v", req.method, err)), false
	}
	return append(reply, '\n'), false
}

// call runs a handler, turning a panic into an internal error so one bad
// method cannot take the server down.
func (s *Server) call(ctx context.Context, h Handler, req request) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("json-rpc handler panicked", "method", req.method, "panic", p)
			result, err = nil, &Error{Code: CodeInternalError, Message: "Internal error"}
		}
	}()
	return h(ctx, req.params)
}

type request struct {
	method string
	params json.RawMessage
}

// parseRequest applies SPDK's parse_single_request rules, in its order
// (lib/jsonrpc/jsonrpc_server.c): the id is taken only once the envelope
// has no unknown member, a "2.0" jsonrpc if any and a string method, so an
// envelope failing those is answered with id null. It returns the id to
// echo (nil for a notification) and an *Error for an invalid envelope.
func parseRequest(raw json.RawMessage) (request, json.RawMessage, *Error) {
	invalid := &Error{Code: CodeInvalidRequest, Message: "Invalid request"}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return request{}, nil, invalid
	}
	for k := range members {
		switch k {
		case "jsonrpc", "method", "id", "params":
		default:
			return request{}, nil, invalid
		}
	}
	if v, ok := members["jsonrpc"]; ok {
		var version string
		if json.Unmarshal(v, &version) != nil || version != "2.0" {
			return request{}, nil, invalid
		}
	}
	var req request
	v, ok := members["method"]
	if !ok || json.Unmarshal(v, &req.method) != nil || bytes.TrimSpace(v)[0] != '"' {
		return request{}, nil, invalid
	}
	var id json.RawMessage
	if v, ok := members["id"]; ok {
		v = bytes.TrimSpace(v)
		switch {
		case string(v) == "null":
		case len(v) > 0 && (v[0] == '"' || v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
			id = v
		default:
			return request{}, nil, invalid
		}
	}
	if v, ok := members["params"]; ok {
		v = bytes.TrimSpace(v)
		switch {
		case string(v) == "null":
		case v[0] == '{' || v[0] == '[':
			req.params = v
		default:
			return request{}, id, invalid
		}
	}
	return req, id, nil
}

// errorReply encodes an error reply; a nil id is sent as null.
func errorReply(id json.RawMessage, e *Error) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	reply, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *Error          `json:"error"`
	}{"2.0", id, e})
	if err != nil {
		// Only a malformed id could fail, and ids are validated tokens.
		reply = []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}`)
	}
	return append(reply, '\n')
}

// replyWriter serialises replies onto the connection. After the first
// write error it drops the rest: the peer is gone.
type replyWriter struct {
	mu     sync.Mutex
	w      io.Writer
	failed bool
}

func (rw *replyWriter) write(b []byte) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.failed {
		return
	}
	if _, err := rw.w.Write(b); err != nil {
		rw.failed = true
	}
}

var errTooLarge = errors.New("json-rpc request exceeds the size limit")

// boundedReader refuses to buffer more than max bytes of one JSON value,
// and drops the white space between values before the decoder sees it: the
// limit is on a request, and white space a client sends between requests
// (any amount) is neither buffered nor counted. What the decoder holds
// unread (dec.Buffered) is the value being read, after the white space left
// over from the previous read.
type boundedReader struct {
	r   io.Reader
	dec *json.Decoder
	max int
}

func (b *boundedReader) Read(p []byte) (int, error) {
	held, lead := pendingValue(b.dec.Buffered())
	if held-lead > b.max {
		return 0, errTooLarge
	}
	for {
		n, err := b.r.Read(p)
		if held > lead || n == 0 {
			return n, err
		}
		// No value has started yet: the white space that leads this read
		// is between values.
		k := 0
		for k < n && isSpace(p[k]) {
			k++
		}
		if k < n || err != nil {
			return copy(p, p[k:n]), err
		}
	}
}

// pendingValue returns how many bytes buf holds and how many of them are
// leading white space.
func pendingValue(buf io.Reader) (held, lead int) {
	br, ok := buf.(interface {
		io.ByteReader
		Len() int
	})
	if !ok {
		// Decoder.Buffered returns a *bytes.Reader; anything else is read
		// out.
		b, _ := io.ReadAll(buf)
		br = bytes.NewReader(b)
	}
	held = br.Len()
	for {
		c, err := br.ReadByte()
		if err != nil || !isSpace(c) {
			return held, lead
		}
		lead++
	}
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
