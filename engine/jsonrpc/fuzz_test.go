package jsonrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// FuzzServerStream feeds arbitrary bytes to a server connection: it must
// neither panic nor hang, and whatever it writes must be JSON values.
func FuzzServerStream(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","method":"echo","id":1,"params":{"a":1}}`,
		`{"method":"sum","id":"x","params":{"a":1,"b":2}}{"method":"sum"}`,
		"{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"echo\",\n  \"id\": 1\n}",
		`[{"method":"echo","id":1},{"method":"nosuch"},7,[]]`,
		`[]`, `42`, `"s"`, `null`, `{"method":}`, `{"id":{}}`, `{"method":"echo","params":"x","id":1}`,
		`{"method":"sum","id":1,"params":{"a":"x"}}`, "\x00\xff{", `[[[[[[[[`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	srv := NewServer(nil)
	srv.Register("echo", func(ctx context.Context, p json.RawMessage) (any, error) { return p, nil })
	srv.Register("sum", func(ctx context.Context, p json.RawMessage) (any, error) {
		var v struct{ A, B int }
		if err := DecodeParams(p, &v, CodeInternalError, "A"); err != nil {
			return nil, err
		}
		return v.A + v.B, nil
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			srv.serveStream(ctx, bytes.NewReader(in), &out)
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("server hung on %q", in)
		}
		dec := json.NewDecoder(&out)
		for {
			var v json.RawMessage
			err := dec.Decode(&v)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("server wrote non-JSON for %q: %v", in, err)
			}
			// A reply is an object, or an array of them for a batch.
			var one map[string]any
			var batch []map[string]any
			if json.Unmarshal(v, &one) != nil && json.Unmarshal(v, &batch) != nil {
				t.Fatalf("reply %s for %q is neither an object nor a batch", v, in)
			}
		}
	})
}
