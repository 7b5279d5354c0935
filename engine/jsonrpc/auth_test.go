package jsonrpc

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/credential"
)

// authServer serves a server with a "touch" method, which counts its runs,
// on a TCP listener that requires tok and on a Unix socket that does not.
func authServer(t *testing.T, tok credential.Token) (tcpAddr, unixPath string, runs *atomic.Int64) {
	t.Helper()
	runs = new(atomic.Int64)
	srv := NewServer(nil)
	srv.Register("touch", func(ctx context.Context, params json.RawMessage) (any, error) {
		runs.Add(1)
		return "touched", nil
	})
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unixPath = t.TempDir() + "/rpc.sock"
	ul, err := ListenUnix(unixPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- srv.ServeAuthenticated(ctx, tl, tok) }()
	go func() { done <- srv.Serve(ctx, ul) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	return tl.Addr().String(), unixPath, runs
}

func mustToken(t *testing.T) credential.Token {
	t.Helper()
	tok, err := credential.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantNotPermitted fails unless err is a -1 error reply.
func wantNotPermitted(t *testing.T, what string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNotPermitted || !strings.Contains(e.Message, "Operation not permitted") {
		t.Fatalf("%s = %v, want error %d Operation not permitted", what, err, CodeNotPermitted)
	}
}

// waitClosed fails unless the server closes the client's connection in
// time.
func waitClosed(t *testing.T, c *Client) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept the connection open after a failed authentication")
	}
}

func TestAuthenticatedTCP(t *testing.T) {
	tok := mustToken(t)
	addr, _, runs := authServer(t, tok)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c, err := DialAuth(ctx, "", "tcp", addr, tok)
	if err != nil {
		t.Fatalf("DialAuth with the right credential: %v", err)
	}
	defer c.Close()
	var got string
	if err := c.Call(ctx, "touch", nil, &got); err != nil || got != "touched" {
		t.Fatalf("touch after authenticating = %q, %v", got, err)
	}
	if runs.Load() != 1 {
		t.Fatalf("touch ran %d times, want 1", runs.Load())
	}
}

func TestUnauthenticatedTCPRefused(t *testing.T) {
	tok := mustToken(t)
	addr, _, runs := authServer(t, tok)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c, err := Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantNotPermitted(t, "touch without authenticating", c.Call(ctx, "touch", nil, nil))
	// An unknown method is refused the same way: the methods a node has
	// are not listed to strangers.
	wantNotPermitted(t, "an unknown method without authenticating", c.Call(ctx, "nosuch", nil, nil))
	// A batch runs nothing (SPDK answers it -32600 whoever sends it).
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := raw.Write([]byte(`[{"method":"touch","id":1},{"method":"touch"}]`)); err != nil {
		t.Fatal(err)
	}
	var reply struct {
		ID    *int
		Error *Error
	}
	if err := json.NewDecoder(raw).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	if reply.ID != nil || reply.Error == nil || reply.Error.Code != CodeInvalidRequest {
		t.Fatalf("batch without authenticating answered %+v, want one -32600 error", reply)
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("touch ran %d times on unauthenticated connections, want 0", n)
	}
	// The connection still may authenticate, and then call.
	if err := c.Authenticate(ctx, tok); err != nil {
		t.Fatalf("authenticate after a refused call: %v", err)
	}
	if err := c.Call(ctx, "touch", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	tok := mustToken(t)
	addr, _, runs := authServer(t, tok)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	challenge := func(c *Client) string {
		t.Helper()
		var ch struct{ Nonce string }
		if err := c.Call(ctx, MethodAuthChallenge, nil, &ch); err != nil {
			t.Fatal(err)
		}
		return ch.Nonce
	}
	dial := func() *Client {
		t.Helper()
		c, err := Dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	authenticate := func(c *Client, mac string) error {
		return c.Call(ctx, MethodAuthenticate, map[string]string{"mac": mac}, nil)
	}

	t.Run("another credential", func(t *testing.T) {
		c := dial()
		if err := c.Authenticate(ctx, mustToken(t)); err == nil {
			t.Fatal("authenticated with a credential that is not the server's")
		}
		waitClosed(t, c)
	})
	t.Run("MAC of another purpose", func(t *testing.T) {
		c := dial()
		wantNotPermitted(t, "authenticate", authenticate(c, tok.MAC("nbd-export", challenge(c))))
		waitClosed(t, c)
	})
	t.Run("no challenge", func(t *testing.T) {
		c := dial()
		wantNotPermitted(t, "authenticate", authenticate(c, tok.MAC(AuthPurpose, strings.Repeat("0", 64))))
		waitClosed(t, c)
	})
	t.Run("nonce replayed on the same connection", func(t *testing.T) {
		c := dial()
		mac := tok.MAC(AuthPurpose, challenge(c))
		if err := authenticate(c, mac); err != nil {
			t.Fatal(err)
		}
		wantNotPermitted(t, "the same MAC again", authenticate(c, mac))
		waitClosed(t, c)
	})
	t.Run("MAC replayed on another connection", func(t *testing.T) {
		first := dial()
		mac := tok.MAC(AuthPurpose, challenge(first))
		if err := authenticate(first, mac); err != nil {
			t.Fatal(err)
		}
		second := dial()
		challenge(second)
		wantNotPermitted(t, "a MAC seen on another connection", authenticate(second, mac))
		waitClosed(t, second)
	})
	t.Run("nonces differ", func(t *testing.T) {
		c := dial()
		a, b := challenge(c), challenge(c)
		if a == b || len(a) != 64 {
			t.Fatalf("two challenges gave %q and %q; want two different 64-digit nonces", a, b)
		}
		// The first nonce was replaced by the second.
		wantNotPermitted(t, "authenticate for a replaced nonce", authenticate(c, tok.MAC(AuthPurpose, a)))
	})
	if n := runs.Load(); n != 0 {
		t.Fatalf("touch ran %d times, want 0", n)
	}
}

func TestUnixSocketNeedsNoAuthentication(t *testing.T) {
	tok := mustToken(t)
	_, path, runs := authServer(t, tok)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "touch", nil, nil); err != nil || runs.Load() != 1 {
		t.Fatalf("touch on the Unix socket: %v (ran %d times)", err, runs.Load())
	}
	// DialAuth does not try to authenticate on a Unix socket, where the
	// methods do not exist.
	c2, err := DialAuth(ctx, "", "unix", path, tok)
	if err != nil {
		t.Fatalf("DialAuth on the Unix socket: %v", err)
	}
	c2.Close()
}

func TestServeAuthenticatedNeedsCredential(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := NewServer(nil).ServeAuthenticated(context.Background(), l, credential.Token{}); !errors.Is(err, credential.ErrEmpty) {
		t.Fatalf("ServeAuthenticated with no credential = %v, want ErrEmpty", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("the listener is still open")
	}
}
