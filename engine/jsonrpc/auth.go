package jsonrpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/credential"
)

// The methods a connection that must authenticate starts with. The server
// answers them itself on such a connection; on one that needs no
// authentication (the Unix socket) they do not exist.
const (
	// MethodAuthChallenge takes no params and answers {"nonce": "<64 hex>"},
	// a random nonce for this connection that one authenticate consumes.
	MethodAuthChallenge = "refengine_auth_challenge"
	// MethodAuthenticate takes {"mac": MAC} with MAC the cluster
	// credential's Token.MAC(AuthPurpose, nonce) and answers true.
	MethodAuthenticate = "refengine_authenticate"
)

// AuthPurpose is the MAC domain (credential.Token.MAC) of a JSON-RPC
// authentication: a MAC made for anything else does not authenticate.
const AuthPurpose = "jsonrpc"

// AuthTimeout is how long a connection that must authenticate may stay
// unauthenticated before the server closes it, so that connections that
// cannot authenticate do not hold the MaxConns slots.
const AuthTimeout = 10 * time.Second

// CodeNotPermitted is the code of the errors an unauthenticated or refused
// call gets: -EPERM, as SPDK answers an operation it does not allow.
const CodeNotPermitted = -1

// errAuthFirst answers every method but the two above on a connection that
// has not authenticated yet.
var errAuthFirst = &Error{Code: CodeNotPermitted,
	Message: "Operation not permitted: authenticate first with " + MethodAuthenticate + " (docs/security.md)"}

// ServeAuthenticated is Serve for a listener other processes may reach
// (TCP): a connection's calls run only after it has proved the cluster
// credential tok by challenge and response (MethodAuthChallenge, then
// MethodAuthenticate). The secret itself never crosses the connection.
func (s *Server) ServeAuthenticated(ctx context.Context, l net.Listener, tok credential.Token) error {
	if tok.IsZero() {
		l.Close()
		return fmt.Errorf("json-rpc on %s: authentication needs a cluster credential: %w", l.Addr(), credential.ErrEmpty)
	}
	return s.serve(ctx, l, tok)
}

// connAuth is the authentication state of one connection.
type connAuth struct {
	tok credential.Token
	// refuse closes the connection, once the reply to a failed
	// authentication has been written.
	refuse func()

	mu      sync.Mutex
	nonce   string // the challenge outstanding, "" when none
	ok      bool   // authenticated
	refused bool   // an authentication failed: close after replying
}

func newConnAuth(tok credential.Token, refuse func()) *connAuth {
	return &connAuth{tok: tok, refuse: refuse}
}

func (a *connAuth) authenticated() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ok
}

// failed reports whether an authentication failed on the connection.
func (a *connAuth) failed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused
}

// gate answers the authentication methods and refuses every other method
// until the connection has authenticated. handled says the reply is
// result/err; otherwise the method may run.
func (a *connAuth) gate(method string, params json.RawMessage) (handled bool, result any, err error) {
	switch method {
	case MethodAuthChallenge:
		result, err = a.challenge(params)
		return true, result, err
	case MethodAuthenticate:
		result, err = a.authenticate(params)
		return true, result, err
	}
	if !a.authenticated() || a.failed() {
		return true, nil, errAuthFirst
	}
	return false, nil, nil
}

// challenge makes a new nonce, replacing any outstanding one.
func (a *connAuth) challenge(params json.RawMessage) (any, error) {
	if err := DecodeParams(params, &struct{}{}, CodeInvalidParams); err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("make challenge: %w", err)
	}
	nonce := hex.EncodeToString(b)
	a.mu.Lock()
	a.nonce = nonce
	a.mu.Unlock()
	return struct {
		Nonce string `json:"nonce"`
	}{nonce}, nil
}

// authenticate checks the MAC of the outstanding nonce, which it consumes
// whatever the outcome: a nonce answers one attempt.
func (a *connAuth) authenticate(params json.RawMessage) (any, error) {
	var p struct {
		MAC string `json:"mac"`
	}
	decodeErr := DecodeParams(params, &p, CodeInvalidParams, "mac")
	a.mu.Lock()
	defer a.mu.Unlock()
	nonce := a.nonce
	a.nonce = ""
	switch {
	case decodeErr != nil:
		a.refused = true
		return nil, decodeErr
	case nonce == "":
		a.refused = true
		return nil, &Error{Code: CodeNotPermitted, Message: "Operation not permitted: no challenge outstanding; call " + MethodAuthChallenge + " first (each answers one " + MethodAuthenticate + ")"}
	case !a.tok.CheckMAC(AuthPurpose, nonce, p.MAC):
		a.refused = true
		return nil, &Error{Code: CodeNotPermitted, Message: "Operation not permitted: wrong MAC for the challenge (is the cluster credential the node's? docs/security.md)"}
	}
	if a.refused {
		return nil, errAuthFirst // a failed attempt ends the connection
	}
	a.ok = true
	return true, nil
}

// Authenticate proves the cluster credential tok on the client's
// connection (MethodAuthChallenge, then MethodAuthenticate). Calls made
// before it returns nil are refused by a server that requires it.
func (c *Client) Authenticate(ctx context.Context, tok credential.Token) error {
	if tok.IsZero() {
		return fmt.Errorf("json-rpc authenticate: %w", credential.ErrEmpty)
	}
	var ch struct {
		Nonce string `json:"nonce"`
	}
	if err := c.Call(ctx, MethodAuthChallenge, nil, &ch); err != nil {
		return fmt.Errorf("json-rpc authenticate: %w", err)
	}
	if len(ch.Nonce) != 64 {
		return fmt.Errorf("json-rpc authenticate: the server's nonce %q is not 64 hex digits", ch.Nonce)
	}
	var ok bool
	if err := c.Call(ctx, MethodAuthenticate, map[string]string{"mac": tok.MAC(AuthPurpose, ch.Nonce)}, &ok); err != nil {
		return fmt.Errorf("json-rpc authenticate: %w", err)
	}
	if !ok {
		return fmt.Errorf("json-rpc authenticate: the server answered %t", ok)
	}
	return nil
}

// DialAuth is DialFrom followed, on TCP, by Authenticate with tok: the
// way to reach a node's JSON-RPC over the network. A Unix socket is the
// local administrator's door and needs no credential; tok is not used for
// it.
func DialAuth(ctx context.Context, source, network, addr string, tok credential.Token) (*Client, error) {
	c, err := DialFrom(ctx, source, network, addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		return c, nil
	}
	if err := c.Authenticate(ctx, tok); err != nil {
		c.Close()
		return nil, fmt.Errorf("json-rpc %s %s: %w", network, addr, err)
	}
	return c, nil
}
