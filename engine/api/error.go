package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is the body of every failed API call: an HTTP status code and a
// message a person can act on. It travels as {"code":400,"message":"..."}.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Errorf builds an *Error with the given HTTP status code.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports a request that failed validation (400).
func Invalid(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// NotFound reports a missing resource (404).
func NotFound(kind, name string) *Error {
	return Errorf(http.StatusNotFound, "%s %q not found", kind, name)
}

// Conflict reports a request that the current state forbids (409).
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, format, args...)
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsNotFound reports whether err is a 404 API error.
func IsNotFound(err error) bool { return IsCode(err, http.StatusNotFound) }
