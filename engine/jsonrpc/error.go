package jsonrpc

import (
	"errors"
	"fmt"
)

// Generic JSON-RPC 2.0 error codes, as SPDK sends them.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// DecodeFailed is the message SPDK sends when spdk_json_decode_object rejects
// a method's parameters (unknown key, missing required key, wrong type).
const DecodeFailed = "spdk_json_decode_object failed"

// Error is a JSON-RPC error object. Handlers return it to choose the code
// and message of the reply; the client returns it for error replies. SPDK
// never sends a data member, so there is none.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("json-rpc error %d: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// asError turns a handler error into the error object sent on the wire:
// an *Error anywhere in the chain is used as it is, anything else becomes
// an internal error carrying its text.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternalError, Message: err.Error()}
}
