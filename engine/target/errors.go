package target

import (
	"errors"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// decodeLvol and decodeRaid are the codes SPDK sends when a method's params
// fail to decode: lvol, bdev, aio and malloc methods use -32603, raid
// methods -32700 (reference/spdk-jsonrpc.md §4).
const (
	decodeLvol = jsonrpc.CodeInternalError
	decodeRaid = jsonrpc.CodeParseError
)

// strerror renders an errno the way glibc's strerror does: Go's texts are
// glibc's with a lower-case first letter.
func strerror(e syscall.Errno) string {
	s := e.Error()
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// errnoOf finds the errno in an error chain.
func errnoOf(err error) (syscall.Errno, bool) {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e, true
	}
	return 0, false
}

// errnoError is SPDK's "negated errno, strerror" reply.
func errnoError(e syscall.Errno) *jsonrpc.Error {
	return &jsonrpc.Error{Code: -int(e), Message: strerror(e)}
}

// syncError maps a failure SPDK detects before any I/O: the code is the
// negated errno. Errors with no errno become internal errors.
func syncError(err error) *jsonrpc.Error {
	if e, ok := errnoOf(err); ok {
		return errnoError(e)
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
}

// withCode maps a failure SPDK reports through a completion callback: the
// given code (-32602 for asynchronous lvol operations, -32603 for delete)
// with strerror as the message.
func withCode(code int, err error) *jsonrpc.Error {
	if e, ok := errnoOf(err); ok {
		return &jsonrpc.Error{Code: code, Message: strerror(e)}
	}
	return &jsonrpc.Error{Code: code, Message: err.Error()}
}

func asyncError(err error) *jsonrpc.Error { return withCode(jsonrpc.CodeInvalidParams, err) }

var (
	errNoDevice = errnoError(syscall.ENODEV)
	errInval    = errnoError(syscall.EINVAL)
)
