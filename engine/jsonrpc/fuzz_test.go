package jsonrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/credential"
)

// FuzzServerStream feeds arbitrary bytes to a server connection: it must
// neither panic nor hang, and whatever it writes must be JSON values. The
// same bytes on a connection that must authenticate must run no method:
// the fuzzer cannot make the MAC.
func FuzzServerStream(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","method":"echo","id":1,"params":{"a":1}}`,
		`{"method":"sum","id":"x","params":{"a":1,"b":2}}{"method":"sum"}`,
		"{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"echo\",\n  \"id\": 1\n}",
		`[{"method":"echo","id":1},{"method":"nosuch"},7,[]]`,
		`[]`, `42`, `"s"`, `null`, `{"method":}`, `{"id":{}}`, `{"method":"echo","params":"x","id":1}`,
		`{"method":"sum","id":1,"params":{"a":"x"}}`, "\x00\xff{", `[[[[[[[[`,
		"  \n\t\r" + `{"method":"echo","id":1}` + "\n\n  \r\t" + `{"method":"echo","id":2}` + "   ",
		`{"method":"refengine_auth_challenge","id":1}{"method":"refengine_authenticate","id":2,"params":{"mac":"00"}}{"method":"echo","id":3}`,
		`[{"method":"refengine_auth_challenge","id":1},{"method":"refengine_authenticate","params":{"mac":""}},{"method":"echo","id":3}]`,
		`{"method":"refengine_authenticate","id":2,"params":{"mac":7}}`, `42 {"method":"echo","id":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	tok, err := credential.Generate()
	if err != nil {
		f.Fatal(err)
	}
	var ran atomic.Int64
	srv := NewServer(nil)
	srv.Register("echo", func(ctx context.Context, p json.RawMessage) (any, error) { ran.Add(1); return p, nil })
	srv.Register("sum", func(ctx context.Context, p json.RawMessage) (any, error) {
		var v struct{ A, B int }
		if err := DecodeParams(p, &v, CodeInternalError, "A"); err != nil {
			return nil, err
		}
		ran.Add(1)
		return v.A + v.B, nil
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		checkReplies(t, in, serveBytes(t, srv, in, nil))
		ran.Store(0)
		out := serveBytes(t, srv, in, newConnAuth(tok, func() {}))
		checkReplies(t, in, out)
		if n := ran.Load(); n != 0 {
			t.Fatalf("%d methods ran on a connection that never authenticated, for %q: %s", n, in, out.Bytes())
		}
	})
}

// serveBytes serves in as one connection's bytes and returns the replies.
func serveBytes(t *testing.T, srv *Server, in []byte, auth *connAuth) *bytes.Buffer {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		srv.serveStream(ctx, bytes.NewReader(in), &out, auth)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("server hung on %q", in)
	}
	return &out
}

// checkReplies fails unless out is a sequence of reply objects (batches
// are not supported, so no reply is an array).
func checkReplies(t *testing.T, in []byte, out *bytes.Buffer) {
	t.Helper()
	dec := json.NewDecoder(out)
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("server wrote non-JSON for %q: %v", in, err)
		}
		var one map[string]any
		if json.Unmarshal(v, &one) != nil {
			t.Fatalf("reply %s for %q is not an object", v, in)
		}
	}
}
