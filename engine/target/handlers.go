package target

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// errClosed answers every method after Close.
var errClosed = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "target is shut down"}

// method builds a handler that decodes params of type P strictly (SPDK's
// spdk_json_decode_object) with the method family's decode error code, and
// runs fn with the registry locked.
func method[P any](t *Target, decodeCode int, required []string, fn func(ctx context.Context, p *P) (any, error)) jsonrpc.Handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p P
		if err := jsonrpc.DecodeParams(raw, &p, decodeCode, required...); err != nil {
			return nil, err
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed {
			return nil, errClosed
		}
		defer t.pruneQoSLocked()
		defer t.noteLvolsLocked()
		res, err := fn(ctx, &p)
		if err == nil && len(t.configuring) > 0 {
			t.settleConfiguringLocked() // a bdev a raid waits for may have appeared
		}
		return res, err
	}
}

// unlocked is method without the lock, for handlers that wait.
func unlocked[P any](decodeCode int, required []string, fn func(ctx context.Context, p *P) (any, error)) jsonrpc.Handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p P
		if err := jsonrpc.DecodeParams(raw, &p, decodeCode, required...); err != nil {
			return nil, err
		}
		return fn(ctx, &p)
	}
}

func req(keys ...string) []string { return keys }

type getMethodsParams struct {
	Current        bool `json:"current"`
	IncludeAliases bool `json:"include_aliases"`
}

// handlers is the method table.
func (t *Target) handlers() map[string]jsonrpc.Handler {
	m := map[string]jsonrpc.Handler{
		"spdk_get_version": func(ctx context.Context, params json.RawMessage) (any, error) {
			if !jsonrpc.NoParams(params) {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "spdk_get_version method requires no parameters"}
			}
			return version(), nil
		},
		"bdev_get_bdevs": unlocked(decodeLvol, nil, t.getBdevs),
	}
	// In-process calls list the target's methods; Register replaces this
	// with the server's full list.
	m["rpc_get_methods"] = getMethods(t.Methods)
	for _, add := range []func(map[string]jsonrpc.Handler){
		t.baseHandlers, t.lvstoreHandlers, t.lvolHandlers, t.raidHandlers, t.nbdHandlers, t.remoteHandlers, t.errorHandlers, t.miscHandlers,
	} {
		add(m)
	}
	t.errs.countErrors(m)
	return m
}

// getMethods serves rpc_get_methods with list. Unlike most methods, SPDK
// answers params it cannot decode with -32602 "Invalid parameters"
// (lib/rpc/rpc.c, rpc_get_methods).
func getMethods(list func() []string) jsonrpc.Handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p getMethodsParams
		if err := jsonrpc.DecodeParams(raw, &p, jsonrpc.CodeInvalidParams); err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Invalid parameters"}
		}
		return list(), nil
	}
}

// The SPDK release whose RPC interface the target follows, as Longhorn's
// fork (branch longhorn-v24.09, include/spdk/version.h) reports itself when
// built without a git commit.
const (
	versionMajor  = 24
	versionMinor  = 9
	versionPatch  = 1
	versionSuffix = "-pre"
)

func version() map[string]any {
	return map[string]any{
		"version": "SPDK v24.09.1-pre",
		"fields": map[string]any{
			"major":  versionMajor,
			"minor":  versionMinor,
			"patch":  versionPatch,
			"suffix": versionSuffix,
		},
	}
}

// errorsAs is errors.As for *jsonrpc.Error.
func errorsAs(err error) (*jsonrpc.Error, bool) {
	var e *jsonrpc.Error
	ok := errors.As(err, &e)
	return e, ok
}
