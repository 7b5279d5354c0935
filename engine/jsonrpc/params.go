package jsonrpc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// DecodeParams decodes a parameter object into v as strictly as SPDK's
// spdk_json_decode_object: the params must be an object, every key must be
// known to v (a struct with json tags), every key in required must be
// present, and types must match. Absent or null params count as an empty
// object. On failure it returns an *Error with the given code (SPDK uses
// -32603 for lvol, bdev, aio and malloc methods and -32700 for raid
// methods) and the message "spdk_json_decode_object failed".
func DecodeParams(params json.RawMessage, v any, code int, required ...string) error {
	fail := &Error{Code: code, Message: DecodeFailed}
	p := bytes.TrimSpace(params)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		if len(required) > 0 {
			return fail
		}
		return nil
	}
	if p[0] != '{' {
		return fail
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(p, &keys); err != nil {
		return fail
	}
	for _, k := range required {
		if _, ok := keys[k]; !ok {
			return fail
		}
	}
	// encoding/json matches keys case-insensitively; SPDK does not.
	known := fieldNames(v)
	for k := range keys {
		if known != nil && !known[k] {
			return fail
		}
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail
	}
	return nil
}

// NoParams reports whether params is absent or null, the only form that
// methods taking no parameters accept.
func NoParams(params json.RawMessage) bool {
	p := bytes.TrimSpace(params)
	return len(p) == 0 || bytes.Equal(p, []byte("null"))
}

// fieldNames returns the exact JSON keys of the struct v points to, or nil
// when v is not a pointer to a struct.
func fieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}
