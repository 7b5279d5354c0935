package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"

	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/lvstore"
	"github.com/faultline/faultline/engine/nbd"
)

// Options configure a Target.
type Options struct {
	// Log receives the target's logs; nil discards them.
	Log *slog.Logger
	// Defects are the defect switches turned on (DESIGN.md "Defect
	// switches"); the target only records them for code built on it.
	Defects []string
	// SourceAddress is the IP remote bdevs dial from ("" lets the kernel
	// choose); see package srcaddr.
	SourceAddress string
	// Credential is the cluster secret; zero when the node has none.
	Credential credential.Token
	// AllowedDirs are the directories whose files JSON-RPC methods may open
	// (bdev_aio_create's filename; see CheckHostPath), symlinks resolved.
	// Empty allows every path: for library use and tests; refengine node
	// always sets it.
	AllowedDirs []string
}

// Target holds the bdevs, lvstores and NBD exports of one node.
type Target struct {
	log     *slog.Logger
	source  string // SourceAddress
	cred    credential.Token
	allowed []string // AllowedDirs, absolute
	defects map[string]bool
	nbd     *nbd.Server
	methods map[string]jsonrpc.Handler

	mu     sync.Mutex
	seq    uint64
	bdevs  map[string]*baseBdev      // aio, malloc, raid and remote bdevs by name
	stores map[string]*lvstore.Store // lvstores by UUID
	// lvolSeq places each lvstore and lvol bdev, by UUID, in the creation
	// sequence (seq) it shares with base bdevs: SPDK lists bdevs in
	// registration order and lvstores as created. See noteLvolsLocked.
	lvolSeq map[string]uint64
	// qos holds bdev_set_qos_limit's limits by bdev UUID (reported, not
	// enforced).
	qos     map[string]qosLimits
	claims  map[string]map[string]string // bdev name → holder → claim type
	exports map[string]string            // NBD export name → bdev name
	copies  map[uint32]*copyOp           // shallow copies by operation id
	// errs counts the error answers of every method (methodRPCErrors).
	errs *rpcErrors
	// errConfigs are the bases given to bdev_error_create, with the UUID
	// asked for; an error bdev appears on each as soon as it exists.
	errConfigs map[string]string
	// configuring are the raids waiting for base bdevs, by name.
	configuring map[string]*pendingRaid
	nextOp      uint32
	closed      bool
}

// New returns an empty target.
func New(opts Options) *Target {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Target{
		log:     log,
		source:  opts.SourceAddress,
		cred:    opts.Credential,
		defects: map[string]bool{},
		nbd:     nbd.NewServer(log.With("component", "nbd")),
		bdevs:   map[string]*baseBdev{},
		lvolSeq: map[string]uint64{},
		qos:     map[string]qosLimits{},
		stores:  map[string]*lvstore.Store{},
		claims:  map[string]map[string]string{},
		exports: map[string]string{},
		copies:  map[uint32]*copyOp{},
		errs:    newRPCErrors(),

		errConfigs:  map[string]string{},
		configuring: map[string]*pendingRaid{},
	}
	for _, d := range opts.Defects {
		t.defects[d] = true
	}
	for _, d := range opts.AllowedDirs {
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		t.allowed = append(t.allowed, filepath.Clean(d))
	}
	t.methods = t.handlers()
	return t
}

// Defect reports whether a defect switch is on.
func (t *Target) Defect(name string) bool { return t.defects[name] }

// NBD is the target's NBD server; the caller serves it on a listener.
func (t *Target) NBD() *nbd.Server { return t.nbd }

// Register adds every target method to srv. Other packages may register
// their own methods on the same server.
func (t *Target) Register(srv *jsonrpc.Server) {
	for name, h := range t.methods {
		srv.Register(name, h)
	}
	srv.Register("rpc_get_methods", getMethods(srv.Methods))
}

// Methods lists the methods the target serves.
func (t *Target) Methods() []string {
	names := make([]string, 0, len(t.methods))
	for n := range t.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Call runs a method in process, exactly as if it came over JSON-RPC:
// params are marshalled to JSON, the result is unmarshalled into result
// (when not nil), and a failure is a *jsonrpc.Error with SPDK's code.
func (t *Target) Call(ctx context.Context, method string, params any, result any) error {
	h, ok := t.methods[method]
	if !ok {
		return &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "Method not found"}
	}
	var raw json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("encode %s params: %w", method, err)
		}
		raw = b
	}
	res, err := h(ctx, raw)
	if err != nil {
		var e *jsonrpc.Error
		if errors.As(err, &e) {
			return e
		}
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
	}
	if result == nil {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode %s result: %w", method, err)
	}
	return json.Unmarshal(b, result)
}

// Close stops every export and copy, flushes and closes every lvstore and
// closes every bdev. Data already flushed is on disk either way; Close
// makes the rest durable.
func (t *Target) Close() error {
	t.nbd.Close()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	copies := make([]*copyOp, 0, len(t.copies))
	for _, op := range t.copies {
		op.cancel()
		copies = append(copies, op)
	}
	t.mu.Unlock()
	// A finishing copy takes the lock to release its claim.
	for _, op := range copies {
		<-op.done
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	// Raids first (they sit on lvols and remotes), then lvstores, then the
	// devices under them.
	for _, b := range t.sortedBases() {
		if b.raid != nil {
			errs = append(errs, b.raid.Close())
		}
	}
	for _, s := range t.stores {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close lvstore %s: %w", s.Name(), err))
		}
	}
	for _, b := range t.sortedBases() {
		if b.raid == nil {
			if err := b.dev.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close bdev %s: %w", b.name, err))
			}
		}
	}
	return errors.Join(errs...)
}
