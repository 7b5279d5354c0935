package jsonrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/srcaddr"
)

// ErrClosed is returned (wrapped) by calls on a client whose connection has
// closed or broken.
var ErrClosed = errors.New("json-rpc connection closed")

// Client calls methods over one connection. It is safe for concurrent use:
// many calls may be in flight at once, and replies are matched by id in
// whatever order the server sends them.
type Client struct {
	conn net.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]chan reply
	err     error // set once the reader stops
	done    chan struct{}
}

type reply struct {
	result json.RawMessage
	err    *Error
}

// Dial connects to a JSON-RPC server: network is "unix" or "tcp".
func Dial(ctx context.Context, network, addr string) (*Client, error) {
	return DialFrom(ctx, "", network, addr)
}

// DialFrom is Dial with a TCP connection's local address bound to source,
// an IP ("" lets the kernel choose): a node dials its peers from the
// address it serves at (package srcaddr says why).
func DialFrom(ctx context.Context, source, network, addr string) (*Client, error) {
	d, err := srcaddr.Dialer(source, network)
	if err != nil {
		return nil, fmt.Errorf("dial json-rpc %s %s: %w", network, addr, err)
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial json-rpc %s %s: %w", network, addr, err)
	}
	// A call to a peer behind a network partition fails instead of
	// waiting on its connection until TCP gives up; a call that takes long
	// on a live peer is not affected (its connection stays acknowledged).
	if tc, ok := conn.(*net.TCPConn); ok {
		if err := srcaddr.SetUserTimeout(tc, UnackedTimeout); err != nil {
			conn.Close()
			return nil, fmt.Errorf("dial json-rpc %s %s: set TCP_USER_TIMEOUT: %w", network, addr, err)
		}
	}
	return NewClient(conn), nil
}

// UnackedTimeout is how long a dialled TCP connection's sent data may stay
// unacknowledged before the kernel aborts it (TCP_USER_TIMEOUT), as the
// NBD client's replica connections.
const UnackedTimeout = 8 * time.Second

// NewClient returns a client speaking over conn, which it owns.
func NewClient(conn net.Conn) *Client {
	c := &Client{conn: conn, pending: map[uint32]chan reply{}, done: make(chan struct{})}
	go c.readLoop()
	return c
}

// Close closes the connection; calls in flight fail with ErrClosed.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

func (c *Client) readLoop() {
	defer close(c.done)
	dec := json.NewDecoder(c.conn)
	var err error
	for {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *Error          `json:"error"`
		}
		if err = dec.Decode(&msg); err != nil {
			break
		}
		var id uint32
		if json.Unmarshal(msg.ID, &id) != nil {
			// An error for a request the server could not identify
			// (parse error, bad envelope): nothing to match it to.
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			ch <- reply{result: msg.Result, err: msg.Error}
		}
	}
	c.mu.Lock()
	c.err = fmt.Errorf("%w: %v", ErrClosed, err)
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
	c.conn.Close()
}

// Call sends method with params (omitted when nil) and decodes the result
// into result (ignored when nil). An error reply is returned as *Error.
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	req := struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		ID      uint32 `json:"id"`
		Params  any    `json:"params,omitempty"`
	}{JSONRPC: "2.0", Method: method, Params: params}
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("call %s: %w", method, err)
	}
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	req.ID = c.nextID
	c.pending[req.ID] = ch
	c.mu.Unlock()

	b, err := json.Marshal(req)
	if err != nil {
		c.forget(req.ID)
		return fmt.Errorf("encode %s request: %w", method, err)
	}
	c.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetWriteDeadline(dl)
	} else {
		c.conn.SetWriteDeadline(timeZero)
	}
	_, err = c.conn.Write(b)
	c.wmu.Unlock()
	if err != nil {
		c.forget(req.ID)
		return fmt.Errorf("send %s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return fmt.Errorf("call %s: %w", method, err)
		}
		if r.err != nil {
			return r.err
		}
		if result != nil {
			if err := json.Unmarshal(r.result, result); err != nil {
				return fmt.Errorf("decode %s result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.forget(req.ID)
		return fmt.Errorf("call %s: %w", method, ctx.Err())
	}
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}
