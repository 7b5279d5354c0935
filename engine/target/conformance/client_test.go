package conformance

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// client is a raw JSON-RPC 2.0 client: one request at a time.
type client struct {
	conn net.Conn
	dec  *json.Decoder
	id   int
}

var clientIDs atomic.Int64

func dial(t *testing.T, socket string) *client {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatalf("dial %s: %v", socket, err)
	}
	return &client{conn: conn, dec: json.NewDecoder(conn), id: int(clientIDs.Add(1000))}
}

func (c *client) close() { c.conn.Close() }

// send writes text and reads one JSON value back.
func (c *client) send(text string) (json.RawMessage, error) {
	c.conn.SetDeadline(time.Now().Add(replyTimeout))
	if _, err := c.conn.Write([]byte(text)); err != nil {
		return nil, err
	}
	var reply json.RawMessage
	if err := c.dec.Decode(&reply); err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	return reply, nil
}

type rpcReply struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call sends one request and returns its reply.
func (c *client) call(method string, params string) (rpcReply, string, error) {
	c.id++
	req := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"id":%d`, method, c.id)
	if params != "" {
		req += `,"params":` + params
	}
	req += "}"
	raw, err := c.send(req)
	if err != nil {
		return rpcReply{}, req, err
	}
	var r rpcReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, req, fmt.Errorf("reply %s: %w", raw, err)
	}
	if string(r.ID) != strconv.Itoa(c.id) {
		return r, req, fmt.Errorf("reply %s: id %s, want %d", raw, r.ID, c.id)
	}
	return r, req, nil
}

var (
	placeholder = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\}\}`)
	uuidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	uuidInText  = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	prefixRE    = regexp.MustCompile(`\bcf[0-9]+_`)
)

const zeroUUID = "00000000-0000-0000-0000-000000000000"
