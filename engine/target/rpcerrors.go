package target

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// methodRPCErrors is the extension method that reports the errors the
// target answered since it started. It exists for checkers: a chaos run can
// ask a node whether it ever refused to create an lvol that already existed
// (seed 003's -17), which neither the node's callers nor its logs say
// reliably once a retry succeeded.
const methodRPCErrors = "refengine_get_rpc_errors"

// RPCError is one kind of error answer and how often the target gave it.
type RPCError struct {
	Method  string `json:"method"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// rpcErrors counts error answers by method, code and message. The set of
// distinct answers is small (a handful of codes per method), so it is
// kept whole for the process's life.
type rpcErrors struct {
	mu     sync.Mutex
	counts map[rpcErrorKey]uint64
}

type rpcErrorKey struct {
	method, message string
	code            int
}

func newRPCErrors() *rpcErrors { return &rpcErrors{counts: map[rpcErrorKey]uint64{}} }

// counted wraps a handler so that every error it answers, over JSON-RPC or
// in process, is counted under the code and message the caller sees.
func (e *rpcErrors) counted(name string, h jsonrpc.Handler) jsonrpc.Handler {
	return func(ctx context.Context, params json.RawMessage) (any, error) {
		res, err := h(ctx, params)
		if err != nil {
			code, msg := jsonrpc.CodeInternalError, err.Error()
			if je, ok := errorsAs(err); ok {
				code, msg = je.Code, je.Message
			}
			e.mu.Lock()
			e.counts[rpcErrorKey{method: name, message: msg, code: code}]++
			e.mu.Unlock()
		}
		return res, err
	}
}

// list returns the counts sorted by method, code and message.
func (e *rpcErrors) list() []RPCError {
	e.mu.Lock()
	out := make([]RPCError, 0, len(e.counts))
	for k, n := range e.counts {
		out = append(out, RPCError{Method: k.method, Code: k.code, Message: k.message, Count: n})
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b RPCError) int {
		return cmp.Or(cmp.Compare(a.Method, b.Method), cmp.Compare(a.Code, b.Code), cmp.Compare(a.Message, b.Message))
	})
	return out
}

// countErrors wraps every handler of m, then adds the method that lists
// the counts (which itself takes no parameters and never fails).
func (e *rpcErrors) countErrors(m map[string]jsonrpc.Handler) {
	for name, h := range m {
		m[name] = e.counted(name, h)
	}
	m[methodRPCErrors] = func(ctx context.Context, params json.RawMessage) (any, error) {
		if !jsonrpc.NoParams(params) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: methodRPCErrors + " method requires no parameters"}
		}
		return e.list(), nil
	}
}
