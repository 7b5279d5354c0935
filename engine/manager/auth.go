package manager

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

// openRoutes answer without a token: readiness probes and `refengine
// probe` ask for the version, which reveals nothing.
var openRoutes = map[string]bool{
	"GET /v1/version": true,
}

// nodeRoutes are the calls a node makes with its own API token: its
// heartbeat (for its own name only), the node list (rebuild peers) and
// backing image downloads.
var nodeRoutes = map[string]bool{
	"PUT /v1/nodes/{name}/heartbeat":        true,
	"GET /v1/nodes":                         true,
	"GET /v1/backingimages/{name}/download": true,
}

// authRequired reports whether the API checks bearer tokens: whenever the
// manager has a cluster credential or an operator token. Without either the
// API is open, which the refengine CLI allows on loopback addresses only.
func (m *Manager) authRequired() bool {
	return !m.cfg.Credential.IsZero() || !m.cfg.APIToken.IsZero()
}

// authorize checks the request's bearer token against the route (a mux
// pattern): the admin token derived from the cluster credential and the
// operator token open every route, a node's token only nodeRoutes and, for
// a heartbeat, only its own. A missing or unknown token is a 401, a node
// token on any other route a 403.
func (m *Manager) authorize(pattern string, r *http.Request) *api.Error {
	if !m.authRequired() || openRoutes[pattern] {
		return nil
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return api.Errorf(http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token> (the admin token of the cluster credential or the manager's --api-token-file)")
	}
	if m.isAdmin(token) {
		return nil
	}
	node := r.Header.Get(api.NodeHeader)
	if node == "" && pattern == "PUT /v1/nodes/{name}/heartbeat" {
		node = r.PathValue("name")
	}
	if node == "" || m.cfg.Credential.IsZero() || !equal(token, m.cfg.Credential.NodeAPIToken(node)) {
		return api.Errorf(http.StatusUnauthorized, "invalid bearer token")
	}
	if !nodeRoutes[pattern] {
		return api.Errorf(http.StatusForbidden, "node %q may not call %s %s: node tokens are for heartbeats, the node list and backing image downloads", node, r.Method, r.URL.Path)
	}
	if pattern == "PUT /v1/nodes/{name}/heartbeat" && r.PathValue("name") != node {
		return api.Errorf(http.StatusForbidden, "node %q may not send heartbeats for node %q", node, r.PathValue("name"))
	}
	return nil
}

// isAdmin reports whether token is the cluster's admin token or the
// operator token, comparing in constant time.
func (m *Manager) isAdmin(token string) bool {
	ok := false
	if !m.cfg.Credential.IsZero() && equal(token, m.cfg.Credential.AdminAPIToken()) {
		ok = true
	}
	if !m.cfg.APIToken.IsZero() && m.cfg.APIToken.EqualString(token) {
		ok = true
	}
	return ok
}

// equal compares two tokens in constant time (for equal lengths; token
// lengths are public).
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
