package manager

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/faultline/faultline/engine/api"
)

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError writes err as an api.Error body. Errors that are not
// *api.Error are internal faults (500) and are logged.
func (m *Manager) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *api.Error
	if !errors.As(err, &e) {
		m.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &api.Error{Code: http.StatusInternalServerError, Message: err.Error()}
	}
	writeJSON(w, e.Code, e)
}

// handlerFunc is an HTTP handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap serves a route (pattern) with h after checking the caller's token.
func (m *Manager) wrap(pattern string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := m.authorize(pattern, r); err != nil {
			if err.Code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="refengine"`)
			}
			m.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			m.writeError(w, r, err)
		}
	}
}

// pathName returns the {name} path value after validating it.
func pathName(r *http.Request, kind string, ref bool) (string, error) {
	name := r.PathValue("name")
	if ref {
		return name, api.ValidateRef(kind, name)
	}
	return name, api.ValidateName(kind, name)
}

// queryUint parses an optional unsigned query parameter.
func queryUint(r *http.Request, key string, def uint64) (uint64, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, api.Invalid("query parameter %s=%q is not an unsigned integer", key, s)
	}
	return v, nil
}

// queryBool parses an optional boolean query parameter (absent: false).
func queryBool(r *http.Request, key string) (bool, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, api.Invalid("query parameter %s=%q: want true or false", key, s)
	}
	return v, nil
}

// logRequests logs each request at debug level.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Debug("http", "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}

// jsonMux makes the mux's own 404 and 405 answers JSON like every other
// error: it asks the mux which pattern matches and, when none does, runs the
// mux's handler against a recorder only to learn the status and Allow header.
func jsonMux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeJSON(w, rec.code, api.Errorf(rec.code, "method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow")))
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			mux.ServeHTTP(w, r)
		default:
			writeJSON(w, http.StatusNotFound, api.Errorf(http.StatusNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
		}
	})
}

type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
