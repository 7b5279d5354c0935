package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/faults"
)

// The supervisor of `faultline cluster up` keeps the faults injected by
// `faultline fault inject`, so that `list` and `heal` work from any shell:
// a fault that must be undone (a disk-error's armed bdev, a paused node)
// is held here with the state its Heal needs. The routes are documented
// with the others in cluster/local/control.go.

// injectRequest is the body of POST /faults.
type injectRequest struct {
	Kind   string            `json:"kind"`
	Params map[string]string `json:"params,omitempty"`
	// For, when set, heals the fault after that long (a Go duration).
	For string `json:"for,omitempty"`
}

// healRequest is the body of POST /faults/heal: the injected faults of
// Kind whose parameters include Params, or every one with All.
type healRequest struct {
	Kind   string            `json:"kind,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	All    bool              `json:"all,omitempty"`
}

// faultRecord is one fault as the fault routes report it.
type faultRecord struct {
	// ID is the kind and the target parameters: what heal matches on.
	ID     string            `json:"id"`
	Kind   string            `json:"kind"`
	Params map[string]string `json:"params"`
	// Target are the parameters that say what the fault hits.
	Target     map[string]string `json:"target"`
	Injected   time.Time         `json:"injected"`
	InjectTook string            `json:"injectTook"`
	// HealAt is when the supervisor heals the fault by itself (inject --for).
	HealAt   time.Time `json:"healAt,omitzero"`
	Healed   time.Time `json:"healed,omitzero"`
	HealTook string    `json:"healTook,omitempty"`
	// Recovery is set for a fault that nothing undoes: what recovers from it.
	Recovery string `json:"recovery,omitempty"`
	// Error is why healing failed; the fault stays injected.
	Error string `json:"error,omitempty"`
	// Undo is the command that heals the fault (filled by the CLI).
	Undo string `json:"undo,omitempty"`
}

// faultControl holds the injected faults of one supervised cluster.
type faultControl struct {
	env faults.Env
	ctx context.Context // the supervisor's: scheduled heals end with it
	log *slog.Logger

	mu     sync.Mutex
	active map[string]*injected // by ID, with the ones being injected
}

type injected struct {
	rec     faultRecord
	fault   faults.Fault
	pending bool // Inject has not returned yet
	healing bool
	timer   *time.Timer
}

// newFaultControl makes the fault registry of the cluster d runs. The API
// client carries the admin bearer token derived from the cluster's
// credential, for a manager that asks for one.
func newFaultControl(ctx context.Context, d *local.Driver, log *slog.Logger) (*faultControl, error) {
	api, err := client.New(d.ManagerURL(), &http.Client{Transport: bearer{token: adminToken(d.Credential())}})
	if err != nil {
		return nil, err
	}
	return &faultControl{env: faults.Env{Driver: d, API: api}, ctx: ctx, log: log, active: map[string]*injected{}}, nil
}

func adminToken(t credential.Token) string {
	if t.IsZero() {
		return ""
	}
	return t.AdminAPIToken()
}

// bearer adds an Authorization header to every request when it has a token.
type bearer struct{ token string }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.token == "" {
		return http.DefaultTransport.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

// routes mounts the fault routes.
func (fc *faultControl) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, fc.list())
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var req injectRequest
		if err := decodeStrict(r.Body, &req); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		rec, code, err := fc.inject(r.Context(), req)
		if err != nil {
			writeError(w, code, err)
			return
		}
		writeJSON(w, http.StatusOK, rec)
	})
	mux.HandleFunc("POST /faults/heal", func(w http.ResponseWriter, r *http.Request) {
		var req healRequest
		if err := decodeStrict(r.Body, &req); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		recs, code, err := fc.heal(r.Context(), req)
		if err != nil {
			writeError(w, code, err)
			return
		}
		writeJSON(w, http.StatusOK, recs)
	})
}

func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// faultID names a fault by its kind and target.
func faultID(kind string, target map[string]string) string {
	if len(target) == 0 {
		return kind
	}
	return kind + " " + faults.FormatParams(target)
}

// inject builds and injects the fault req describes. It returns the HTTP
// status that fits a failure.
func (fc *faultControl) inject(ctx context.Context, req injectRequest) (faultRecord, int, error) {
	kind, err := faults.LookupKind(req.Kind)
	if err != nil {
		return faultRecord{}, http.StatusBadRequest, err
	}
	var after time.Duration
	if req.For != "" {
		if after, err = time.ParseDuration(req.For); err != nil || after <= 0 {
			return faultRecord{}, http.StatusBadRequest, fmt.Errorf("for %q: want a positive duration such as 30s", req.For)
		}
		if kind.OneShot() {
			return faultRecord{}, http.StatusBadRequest, fmt.Errorf("%s: --for does not apply: nothing undoes it (%s)", kind.Name, kind.Recovery)
		}
	}
	params, err := kind.Normalize(req.Params)
	if err != nil {
		return faultRecord{}, http.StatusBadRequest, err
	}
	f, err := kind.Build(fc.env, params)
	if err != nil {
		return faultRecord{}, http.StatusBadRequest, err
	}
	target := kind.TargetOf(params)
	rec := faultRecord{ID: faultID(kind.Name, target), Kind: kind.Name, Params: params, Target: target, Recovery: kind.Recovery}

	fc.mu.Lock()
	if _, ok := fc.active[rec.ID]; ok {
		fc.mu.Unlock()
		return faultRecord{}, http.StatusConflict, fmt.Errorf("%s is injected already; heal it first", rec.ID)
	}
	entry := &injected{rec: rec, fault: f, pending: true}
	fc.active[rec.ID] = entry
	fc.mu.Unlock()

	start := time.Now()
	err = f.Inject(ctx)
	rec.Injected, rec.InjectTook = start.UTC(), time.Since(start).Round(time.Millisecond).String()
	if err != nil {
		// A failed Inject may have done part of its work; Heal is safe
		// after one and undoes that part.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		if herr := f.Heal(hctx); herr != nil {
			err = fmt.Errorf("%w (and undoing what it did: %v)", err, herr)
		}
		cancel()
		fc.mu.Lock()
		delete(fc.active, rec.ID)
		fc.mu.Unlock()
		return faultRecord{}, http.StatusInternalServerError, err
	}
	fc.log.Info("fault injected", "fault", rec.ID, "took", rec.InjectTook)
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if kind.OneShot() {
		delete(fc.active, rec.ID)
		return rec, http.StatusOK, nil
	}
	if after > 0 {
		rec.HealAt = rec.Injected.Add(after)
		entry.timer = time.AfterFunc(time.Until(rec.HealAt), func() { fc.healScheduled(rec.ID) })
	}
	entry.rec, entry.pending = rec, false
	return rec, http.StatusOK, nil
}

// healScheduled heals a fault injected with a duration, if it still is.
func (fc *faultControl) healScheduled(id string) {
	fc.mu.Lock()
	e, ok := fc.active[id]
	if !ok || e.pending || e.healing {
		fc.mu.Unlock()
		return
	}
	e.healing = true
	fc.mu.Unlock()
	ctx, cancel := context.WithTimeout(fc.ctx, 2*time.Minute)
	defer cancel()
	if rec := fc.healEntries(ctx, []*injected{e}); rec[0].Error != "" {
		fc.log.Warn("scheduled heal", "fault", id, "err", rec[0].Error)
	}
}

// heal heals the injected faults req selects. A fault whose Heal fails
// stays injected and comes back with its Error set.
func (fc *faultControl) heal(ctx context.Context, req healRequest) ([]faultRecord, int, error) {
	if !req.All && req.Kind == "" {
		return nil, http.StatusBadRequest, errors.New("name a fault kind to heal, or all")
	}
	if req.All && (req.Kind != "" || len(req.Params) > 0) {
		return nil, http.StatusBadRequest, errors.New("all heals every fault: give no kind or parameters with it")
	}
	if req.Kind != "" {
		kind, err := faults.LookupKind(req.Kind)
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		for name := range req.Params {
			if !slices.ContainsFunc(kind.Params, func(p faults.Param) bool { return p.Name == name }) {
				return nil, http.StatusBadRequest, fmt.Errorf("%s has no parameter %q", kind.Name, name)
			}
		}
	}
	fc.mu.Lock()
	var todo []*injected
	var ids []string
	for _, e := range fc.active {
		if e.pending {
			continue
		}
		ids = append(ids, e.rec.ID)
		if e.healing || !(req.All || e.rec.Kind == req.Kind && matches(e.rec.Params, req.Params)) {
			continue
		}
		e.healing = true
		todo = append(todo, e)
	}
	fc.mu.Unlock()
	if len(todo) == 0 {
		what := "no fault is injected"
		if len(ids) > 0 {
			slices.Sort(ids)
			what = "injected: " + strings.Join(ids, "; ")
		}
		if req.All {
			return []faultRecord{}, http.StatusOK, nil
		}
		return nil, http.StatusConflict, fmt.Errorf("no injected fault matches %s (%s)", faultID(req.Kind, req.Params), what)
	}
	return fc.healEntries(ctx, todo), http.StatusOK, nil
}

// healEntries heals the entries, which the caller marked healing, oldest
// first.
func (fc *faultControl) healEntries(ctx context.Context, todo []*injected) []faultRecord {
	slices.SortFunc(todo, func(a, b *injected) int { return a.rec.Injected.Compare(b.rec.Injected) })
	var out []faultRecord
	for _, e := range todo {
		if e.timer != nil {
			e.timer.Stop()
		}
		start := time.Now()
		err := e.fault.Heal(ctx)
		rec := e.rec
		rec.Healed, rec.HealTook = start.UTC(), time.Since(start).Round(time.Millisecond).String()
		fc.mu.Lock()
		e.healing = false
		if err != nil {
			rec.Error = err.Error()
			rec.Healed, rec.HealTook = time.Time{}, ""
		} else {
			delete(fc.active, rec.ID)
		}
		fc.mu.Unlock()
		fc.log.Info("fault healed", "fault", rec.ID, "took", rec.HealTook, "err", err)
		out = append(out, rec)
	}
	return out
}

// matches reports whether params has every key of want with its value.
func matches(params, want map[string]string) bool {
	for k, v := range want {
		if params[k] != v {
			return false
		}
	}
	return true
}

// list returns the injected faults, oldest first.
func (fc *faultControl) list() []faultRecord {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := []faultRecord{}
	for _, e := range fc.active {
		if !e.pending {
			out = append(out, e.rec)
		}
	}
	slices.SortFunc(out, func(a, b faultRecord) int { return a.Injected.Compare(b.Injected) })
	return out
}
