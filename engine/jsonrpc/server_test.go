package jsonrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testServer starts a server with a few methods on a Unix socket and
// returns the socket path. release unblocks the "block" method.
func testServer(t *testing.T) (path string, release chan struct{}) {
	t.Helper()
	srv := NewServer(nil)
	release = make(chan struct{})
	srv.Register("echo", func(ctx context.Context, params json.RawMessage) (any, error) {
		if params == nil {
			return true, nil
		}
		return params, nil
	})
	srv.Register("sum", func(ctx context.Context, params json.RawMessage) (any, error) {
		var p struct {
			A int `json:"a"`
			B int `json:"b"`
		}
		if err := DecodeParams(params, &p, CodeInternalError, "a"); err != nil {
			return nil, err
		}
		return p.A + p.B, nil
	})
	srv.Register("fail", func(ctx context.Context, params json.RawMessage) (any, error) {
		return nil, &Error{Code: -17, Message: "File exists"}
	})
	srv.Register("plainerr", func(ctx context.Context, params json.RawMessage) (any, error) {
		return nil, errors.New("disk on fire")
	})
	srv.Register("panic", func(ctx context.Context, params json.RawMessage) (any, error) {
		panic("boom")
	})
	srv.Register("block", func(ctx context.Context, params json.RawMessage) (any, error) {
		select {
		case <-release:
			return "released", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	path = filepath.Join(t.TempDir(), "rpc.sock")
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path, release
}

// exchange writes chunks to a fresh connection, half-closes it, and returns
// every reply (one JSON value each, compacted) until the server closes.
func exchange(t *testing.T, path string, chunks ...string) []string {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, c := range chunks {
		if _, err := conn.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	conn.(*net.UnixConn).CloseWrite()
	all, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read replies: %v", err)
	}
	if len(all) > 0 && all[len(all)-1] != '\n' {
		t.Errorf("reply does not end in a newline: %q", all)
	}
	var out []string
	dec := json.NewDecoder(bytes.NewReader(all))
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("reply is not JSON: %v: %q", err, all)
		}
		out = append(out, string(v))
	}
	slices.Sort(out)
	return out
}

func TestFraming(t *testing.T) {
	path, _ := testServer(t)
	pretty := "{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"sum\",\n  \"id\": 1,\n  \"params\": {\n    \"a\": 2,\n    \"b\": 3\n  }\n}"
	tabbed := "{\n\t\"id\": 7,\n\t\"jsonrpc\": \"2.0\",\n\t\"method\": \"echo\",\n\t\"params\": null\n}\n"
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"compact", []string{`{"jsonrpc":"2.0","method":"sum","id":1,"params":{"a":1,"b":2}}`},
			[]string{`{"jsonrpc":"2.0","id":1,"result":3}`}},
		{"split across writes", []string{`{"jsonrpc":"2.0","met`, `hod":"sum","id":"x","par`, `ams":{"a":4}}`},
			[]string{`{"jsonrpc":"2.0","id":"x","result":4}`}},
		{"two values in one write", []string{`{"method":"sum","id":1,"params":{"a":1}}{"method":"sum","id":2,"params":{"a":2}}`},
			[]string{`{"jsonrpc":"2.0","id":1,"result":1}`, `{"jsonrpc":"2.0","id":2,"result":2}`}},
		{"rpc.py style: indent 2, no newline", []string{pretty},
			[]string{`{"jsonrpc":"2.0","id":1,"result":5}`}},
		{"go-spdk-helper style: tabs, newline, null params", []string{tabbed},
			[]string{`{"jsonrpc":"2.0","id":7,"result":true}`}},
		{"whitespace between values", []string{"\n\n {\"method\":\"echo\",\"id\":1} \r\n\t{\"method\":\"echo\",\"id\":2}\n"},
			[]string{`{"jsonrpc":"2.0","id":1,"result":true}`, `{"jsonrpc":"2.0","id":2,"result":true}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t, path, tt.chunks...)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("replies\n got %.300q\nwant %.300q", got, want)
			}
		})
	}
}

func TestEnvelope(t *testing.T) {
	path, _ := testServer(t)
	const (
		invalidNull = `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid request"}}`
		decodeFail  = `{"code":-32603,"message":"spdk_json_decode_object failed"}`
	)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"number id echoed as number", `{"method":"echo","id":12}`, []string{`{"jsonrpc":"2.0","id":12,"result":true}`}},
		{"string id echoed as string", `{"method":"echo","id":"12"}`, []string{`{"jsonrpc":"2.0","id":"12","result":true}`}},
		{"negative id", `{"method":"echo","id":-3}`, []string{`{"jsonrpc":"2.0","id":-3,"result":true}`}},
		{"fractional id", `{"method":"echo","id":1.5}`, []string{`{"jsonrpc":"2.0","id":1.5,"result":true}`}},
		{"zero id", `{"method":"echo","id":0}`, []string{`{"jsonrpc":"2.0","id":0,"result":true}`}},
		{"notification gets no result", `{"method":"echo"}{"method":"echo","id":null}`, nil},
		{"notification error is sent", `{"method":"nosuch"}`, []string{`{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"Method not found"}}`}},
		{"unknown method", `{"method":"nosuch","id":1}`, []string{`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}`}},
		// SPDK takes the id only after the envelope, jsonrpc and method
		// passed (lib/jsonrpc/jsonrpc_server.c parse_single_request).
		{"wrong version", `{"jsonrpc":"1.0","method":"echo","id":1}`, []string{invalidNull}},
		{"version not a string", `{"jsonrpc":2,"method":"echo","id":1}`, []string{invalidNull}},
		{"no method", `{"id":1}`, []string{invalidNull}},
		{"method not a string", `{"method":5,"id":1}`, []string{invalidNull}},
		{"id an object", `{"method":"echo","id":{}}`, []string{invalidNull}},
		{"id a bool", `{"method":"echo","id":true}`, []string{invalidNull}},
		{"params a string", `{"method":"echo","id":1,"params":"x"}`, []string{`{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Invalid request"}}`}},
		{"unknown member", `{"method":"echo","id":1,"extra":1}`, []string{invalidNull}},
		{"top-level number", `42`, []string{invalidNull}},
		{"top-level string", `"x"`, []string{invalidNull}},
		{"empty batch", `[]`, []string{invalidNull}},
		// SPDK does not support batches: one -32600, id null, nothing run
		// (lib/jsonrpc/jsonrpc_server.c, jsonrpc_parse_request).
		{"batch", `[{"method":"sum","id":1,"params":{"a":1}},{"method":"echo"},{"method":"fail","id":"f"},5]`, []string{invalidNull}},
		{"batch of notifications", `[{"method":"echo"},{"method":"echo"}]`, []string{invalidNull}},
		{"batch then a request", `[{"method":"echo","id":1}]{"method":"echo","id":2}`, []string{invalidNull, `{"jsonrpc":"2.0","id":2,"result":true}`}},
		{"params echoed", `{"method":"echo","id":1,"params":[1,"a"]}`, []string{`{"jsonrpc":"2.0","id":1,"result":[1,"a"]}`}},
		{"handler error code", `{"method":"fail","id":1}`, []string{`{"jsonrpc":"2.0","id":1,"error":{"code":-17,"message":"File exists"}}`}},
		{"plain error is internal", `{"method":"plainerr","id":1}`, []string{`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"disk on fire"}}`}},
		{"panic is internal", `{"method":"panic","id":1}`, []string{`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error"}}`}},
		{"strict: unknown key", `{"method":"sum","id":1,"params":{"a":1,"c":2}}`, []string{`{"jsonrpc":"2.0","id":1,"error":` + decodeFail + `}`}},
		{"strict: key case differs", `{"method":"sum","id":1,"params":{"a":1,"B":2}}`, []string{`{"jsonrpc":"2.0","id":1,"error":` + decodeFail + `}`}},
		{"strict: missing required", `{"method":"sum","id":1,"params":{"b":1}}`, []string{`{"jsonrpc":"2.0","id":1,"error":` + decodeFail + `}`}},
		{"strict: absent params, required key", `{"method":"sum","id":1}`, []string{`{"jsonrpc":"2.0","id":1,"error":` + decodeFail + `}`}},
		{"strict: wrong type", `{"method":"sum","id":1,"params":{"a":"1"}}`, []string{`{"jsonrpc":"2.0","id":1,"error":` + decodeFail + `}`}},
		{"strict: array params", `{"method":"sum","id":1,"params":[1]}`, []string{`{"jsonrpc":"2.0","id":1,"error":` + decodeFail + `}`}},
		{"parse error closes", `{"method":"echo","id":1}{"method":}{"method":"echo","id":2}`,
			[]string{`{"jsonrpc":"2.0","id":1,"result":true}`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`}},
		{"too large", `{"method":"echo","id":1,"params":["` + strings.Repeat("x", MaxRequestSize+1) + `"]}`,
			[]string{`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t, path, tt.in)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("replies\n got %.300q\nwant %.300q", got, want)
			}
		})
	}
}

// TestPipelining checks that a slow request does not hold back a later one
// on the same connection: replies come in completion order.
func TestPipelining(t *testing.T) {
	path, release := testServer(t)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(`{"method":"block","id":1}{"method":"echo","id":2}`)); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(conn)
	var first struct{ ID int }
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if first.ID != 2 {
		t.Fatalf("first reply has id %d, want 2 (the unblocked request)", first.ID)
	}
	close(release)
	var second struct {
		ID     int
		Result string
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if second.ID != 1 || second.Result != "released" {
		t.Fatalf("second reply = %+v, want id 1 result released", second)
	}
}

func TestConnectionLimit(t *testing.T) {
	path, _ := testServer(t)
	ctx := context.Background()
	for range MaxConns {
		c, err := Dial(ctx, "unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Call(ctx, "echo", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte(`{"method":"echo","id":1}`))
	// The server closes it unread: EOF or a reset, and no reply.
	b, err := io.ReadAll(conn)
	if len(b) != 0 {
		t.Fatalf("connection over the limit got a reply %q (err %v); want it closed", b, err)
	}
}

func TestListenUnixExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	// A stale socket file from a crashed server is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	if _, err := ListenUnix(path); err == nil {
		t.Fatal("second listener on the same socket succeeded")
	}
	l.Close()
	for _, p := range []string{path, path + ".lock"} {
		if _, err := net.Dial("unix", p); err == nil {
			t.Errorf("%s still accepts connections after Close", p)
		}
		if exists(p) {
			t.Errorf("%s left behind after Close", p)
		}
	}
}

// TestWhitespaceNotCounted checks that the size limit is on a request, not
// on the white space between requests, however much of it there is.
func TestWhitespaceNotCounted(t *testing.T) {
	path, _ := testServer(t)
	const (
		echo1   = `{"method":"echo","id":1}`
		echo2   = `{"method":"echo","id":2}`
		answer1 = `{"jsonrpc":"2.0","id":1,"result":true}`
		answer2 = `{"jsonrpc":"2.0","id":2,"result":true}`
		tooBig  = `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`
	)
	spaces := func(n int) string { return strings.Repeat(" \n\t\r", n/4) }
	big := `{"method":"echo","id":3,"params":["` + strings.Repeat("x", MaxRequestSize+1) + `"]}`
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"1 MiB before a request", []string{spaces(1 << 20), echo1}, []string{answer1}},
		{"1 MiB before a request, one write", []string{spaces(1<<20) + echo1}, []string{answer1}},
		{"5 MiB in small writes", append(slices.Repeat([]string{spaces(4 << 10)}, 1280), echo1), []string{answer1}},
		{"2 MiB between requests", []string{echo1 + spaces(2<<20) + echo2}, []string{answer1, answer2}},
		{"request just under the limit after 1 MiB",
			[]string{spaces(1<<20) + `{"method":"echo","id":1,"params":["` + strings.Repeat("x", MaxRequestSize-64) + `"]}`},
			[]string{`{"jsonrpc":"2.0","id":1,"result":["` + strings.Repeat("x", MaxRequestSize-64) + `"]}`}},
		{"over-limit request after 1 MiB", []string{spaces(1<<20) + big}, []string{tooBig}},
		{"over-limit request after a request", []string{echo1 + spaces(1<<20) + big}, []string{answer1, tooBig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t, path, tt.chunks...)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("replies\n got %.300q\nwant %.300q", got, want)
			}
		})
	}
}

// TestListenUnixOwnerOnly checks the socket, which needs no
// authentication, is the owner's alone.
func TestListenUnixOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("socket mode %v lets others connect; want 0600", perm)
	}
}
