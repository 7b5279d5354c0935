package engineproc

import (
	"context"
	"encoding/json"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// Register adds the control methods to srv.
func (e *Engine) Register(srv *jsonrpc.Server) {
	srv.Register(MethodGet, func(ctx context.Context, params json.RawMessage) (any, error) {
		return e.Info(), nil
	})
	srv.Register(MethodReplicaAdd, func(ctx context.Context, params json.RawMessage) (any, error) {
		var r Replica
		if err := jsonrpc.DecodeParams(params, &r, jsonrpc.CodeInvalidParams, "name", "address", "export"); err != nil {
			return nil, err
		}
		if err := e.AddReplica(ctx, r); err != nil {
			return nil, jsonrpc.Errorf(jsonrpc.CodeInternalError, "%v", err)
		}
		return true, nil
	})
	srv.Register(MethodReplicaMode, func(ctx context.Context, params json.RawMessage) (any, error) {
		var r ModeRequest
		if err := jsonrpc.DecodeParams(params, &r, jsonrpc.CodeInvalidParams, "name", "mode"); err != nil {
			return nil, err
		}
		if err := e.SetMode(r.Name, r.Mode); err != nil {
			return nil, jsonrpc.Errorf(jsonrpc.CodeInvalidParams, "%v", err)
		}
		return true, nil
	})
	srv.Register(MethodReplicaRemove, func(ctx context.Context, params json.RawMessage) (any, error) {
		var r NameRequest
		if err := jsonrpc.DecodeParams(params, &r, jsonrpc.CodeInvalidParams, "name"); err != nil {
			return nil, err
		}
		if err := e.RemoveReplica(r.Name); err != nil {
			return nil, jsonrpc.Errorf(jsonrpc.CodeInternalError, "%v", err)
		}
		return true, nil
	})
	srv.Register(MethodSuspend, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := e.raid.Suspend(ctx); err != nil {
			return nil, jsonrpc.Errorf(jsonrpc.CodeInternalError, "%v", err)
		}
		return true, nil
	})
	srv.Register(MethodResume, func(ctx context.Context, params json.RawMessage) (any, error) {
		e.raid.Resume()
		return true, nil
	})
	srv.Register(MethodActivate, func(ctx context.Context, params json.RawMessage) (any, error) {
		var r ActivateRequest
		if err := jsonrpc.DecodeParams(params, &r, jsonrpc.CodeInvalidParams, "mode"); err != nil {
			return nil, err
		}
		if err := e.Activate(ctx, r.Mode); err != nil {
			return nil, jsonrpc.Errorf(jsonrpc.CodeInternalError, "%v", err)
		}
		return true, nil
	})
	srv.Register(MethodDeactivate, func(ctx context.Context, params json.RawMessage) (any, error) {
		e.Deactivate()
		return true, nil
	})
	srv.Register(MethodFlush, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := e.raid.Flush(); err != nil {
			return nil, jsonrpc.Errorf(jsonrpc.CodeInternalError, "%v", err)
		}
		return true, nil
	})
}
