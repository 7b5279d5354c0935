package manager

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

// MaxBodyBytes bounds every JSON request body.
const MaxBodyBytes = 1 << 20

// decodeBody reads a request body of at most MaxBodyBytes and decodes it
// strictly (decodeStrict) into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return api.Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
		}
		return api.Invalid("read request body: %v", err)
	}
	return decodeStrict(data, v)
}

// decodeStrict decodes exactly one JSON object from data into v, which
// points to a struct. encoding/json alone matches keys case-insensitively,
// keeps the last of duplicate keys and cannot tell an omitted field from an
// explicit zero, so a typo ("SIZE") or a repeated key would silently change
// what a request asks for. decodeStrict first walks the tokens against v's
// type and refuses, naming the field by its JSON path:
//   - keys that match no field exactly (case included),
//   - keys repeated in one object,
//   - values of the wrong type (each struct member is decoded on its own),
//   - an explicit zero value for a field tagged `strict:"nonzero"`, whose
//     zero the manager would replace by a default (omit the field instead),
//   - anything but a single JSON object, and trailing data;
//
// then it decodes with DisallowUnknownFields. Every error is an
// *api.Error with code 400.
func decodeStrict(data []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("decodeStrict: want a pointer to a struct, got %T", v)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return api.Invalid("request body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := walker{dec: dec, data: data}
	tok, err := dec.Token()
	if err != nil {
		return w.syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return api.Invalid("request body: want a JSON object, got %s", describe(tok))
	}
	if err := w.object(t.Elem(), ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return api.Invalid("request body: unexpected data after the JSON object (offset %d)", dec.InputOffset())
	}
	full := json.NewDecoder(bytes.NewReader(data))
	full.DisallowUnknownFields()
	if err := full.Decode(v); err != nil {
		return api.Invalid("request body: %s", typeError(err))
	}
	return nil
}

// walker checks the token stream of one document.
type walker struct {
	dec   *json.Decoder
	data  []byte
	depth int // arrays and objects open around the current value
}

// maxDepth bounds nesting: no request type nests deeper than a few
// levels, and the walk recurses once per level.
const maxDepth = 32

func (w *walker) syntax(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return api.Invalid("request body: unexpected end of JSON")
	}
	return api.Invalid("request body: invalid JSON: %v", err)
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value checks the next value, which is to decode into t (nil: no
// constraint, as for interface fields or types that decode themselves).
func (w *walker) value(t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		t = nil // its own decoder judges the value; nested objects still get the key checks
	}
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // scalars: types are checked by the final decode
	}
	if w.depth++; w.depth > maxDepth {
		return api.Invalid("request body: %s nests more than %d levels deep", path, maxDepth)
	}
	defer func() { w.depth-- }()
	switch d {
	case '{':
		if t != nil && t.Kind() == reflect.Struct {
			return w.object(t, path)
		}
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		return w.mapObject(elem, path)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil {
			return w.syntax(err)
		}
	}
	return nil
}

// object checks the members of an object (its '{' already read) that is
// to decode into the struct type t.
func (w *walker) object(t reflect.Type, path string) error {
	fields := structFields(t)
	seen := map[string]bool{}
	for w.dec.More() {
		key, err := w.key()
		if err != nil {
			return err
		}
		p := join(path, key)
		if seen[key] {
			return api.Invalid("request body: duplicate field %s", p)
		}
		seen[key] = true
		f, ok := fields[key]
		if !ok {
			for name := range fields {
				if strings.EqualFold(name, key) {
					return api.Invalid("request body: unknown field %s (field names are case-sensitive: did you mean %q?)", p, name)
				}
			}
			return api.Invalid("request body: unknown field %s", p)
		}
		start := w.dec.InputOffset()
		if err := w.value(f.typ, p); err != nil {
			return err
		}
		// Decoding the member on its own names the field of a type error,
		// which encoding/json does not for types that decode themselves.
		raw := bytes.TrimLeft(w.data[start:w.dec.InputOffset()], " \t\r\n:")
		pv := reflect.New(f.typ)
		if err := json.Unmarshal(raw, pv.Interface()); err != nil {
			return api.Invalid("request body: field %s: %s", p, typeError(err))
		}
		if f.nonzero && string(raw) != "null" && isZero(pv.Elem()) {
			return api.Invalid("request body: field %s: explicit %s is not allowed; omit the field for the default", p, raw)
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return w.syntax(err)
	}
	return nil
}

// mapObject checks the members of an object (its '{' already read) that
// is to decode into a map (or into nothing in particular): no duplicates.
func (w *walker) mapObject(elem reflect.Type, path string) error {
	seen := map[string]bool{}
	for w.dec.More() {
		key, err := w.key()
		if err != nil {
			return err
		}
		p := join(path, key)
		if seen[key] {
			return api.Invalid("request body: duplicate field %s", p)
		}
		seen[key] = true
		if err := w.value(elem, p); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return w.syntax(err)
	}
	return nil
}

func (w *walker) key() (string, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return "", w.syntax(err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", api.Invalid("request body: invalid JSON: object key %s is not a string", describe(tok))
	}
	return key, nil
}

// isZero reports whether v, after any pointers, is its type's zero value.
func isZero(v reflect.Value) bool {
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	return v.IsZero()
}

// typeError says what was wrong with a member's value.
func typeError(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("%s is not a %s", te.Value, te.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// field is what decodeStrict knows of a struct field.
type field struct {
	typ     reflect.Type
	nonzero bool
}

// structFields maps the exact JSON names of t's fields, embedded structs'
// promoted fields included, to their types.
func structFields(t reflect.Type) map[string]field {
	fields := map[string]field{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, f := range structFields(et) {
					if _, ok := fields[k]; !ok {
						fields[k] = f
					}
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = field{typ: sf.Type, nonzero: sf.Tag.Get("strict") == "nonzero"}
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a token for an error message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return string(v)
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}
