package conformance

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// run holds one case's state.
type run struct {
	t       *testing.T
	e       *env
	c       *client
	vars    map[string]string
	literal map[string]bool // UUIDs the case itself passes
}

func (r *run) expand(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-2]
		if name == "dir" {
			return r.e.dir
		}
		v, ok := r.vars[name]
		if !ok {
			r.t.Fatalf("placeholder %s used before it was captured", m)
		}
		return v
	})
}

// normalize makes a reply comparable: a UUID becomes "{{var}}" when a
// variable holds it, stays as is when it is the zero UUID or one the case
// passed, and becomes "<uuid>" otherwise; a non-empty creation_time becomes
// "<time>"; the temp dir becomes {{dir}}.
func (r *run) normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if s, ok := val.(string); ok && k == "creation_time" && s != "" {
				out[k] = "<time>"
				continue
			}
			out[k] = r.normalize(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = r.normalize(val)
		}
		return out
	case string:
		if uuidRE.MatchString(x) {
			lx := strings.ToLower(x)
			if lx == zeroUUID || r.literal[lx] {
				return lx
			}
			for name, val := range r.vars {
				if strings.ToLower(val) == lx {
					return "{{" + name + "}}"
				}
			}
			return "<uuid>"
		}
		if r.e.dir != "" {
			x = strings.ReplaceAll(x, r.e.dir, "{{dir}}")
		}
		return x
	}
	return v
}

func decode(text string) (any, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data in %q", text)
	}
	return v, nil
}

// match compares want with got; subset allows extra object keys in got.
// "<any>" in want matches any value.
func match(want, got any, subset bool, path string) error {
	if s, ok := want.(string); ok && s == "<any>" {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %s, want an object", pathName(path), show(got))
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s: missing key %q", pathName(path), k)
			}
			if err := match(w[k], gv, subset, path+"."+k); err != nil {
				return err
			}
		}
		if !subset {
			for k := range g {
				if _, ok := w[k]; !ok {
					return fmt.Errorf("%s: unexpected key %q (%s)", pathName(path), k, show(g[k]))
				}
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: got %s, want an array", pathName(path), show(got))
		}
		if len(g) != len(w) {
			return fmt.Errorf("%s: %d elements, want %d: got %s", pathName(path), len(g), len(w), show(got))
		}
		for i := range w {
			if err := match(w[i], g[i], subset, fmt.Sprintf("%s.%d", path, i)); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		g, ok := got.(json.Number)
		if !ok || g.String() != w.String() {
			return fmt.Errorf("%s: got %s, want %s", pathName(path), show(got), w)
		}
		return nil
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) || fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return fmt.Errorf("%s: got %s, want %s", pathName(path), show(got), show(want))
		}
		return nil
	}
}

func pathName(p string) string {
	if p == "" {
		return "result"
	}
	return "result" + p
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// lookup follows a dotted path ("0.uuid", "base_bdevs_list.1.name").
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			val, ok := x[p]
			if !ok {
				return nil, false
			}
			v = val
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// check runs one step once; it returns a description of the mismatch, or
// "" when the reply is as expected.

// TestMatch checks the comparison itself.
func TestMatch(t *testing.T) {
	r := &run{t: t, e: &env{dir: "/tmp/x"}, vars: map[string]string{"v": "0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d11"}, literal: map[string]bool{}}
	tests := []struct {
		want, got string
		subset    bool
		ok        bool
	}{
		{`{"a":1}`, `{"a":1,"b":2}`, true, true},
		{`{"a":1}`, `{"a":1,"b":2}`, false, false},
		{`[{"a":1}]`, `[{"a":1},{"a":2}]`, true, false},
		{`{"u":"{{v}}"}`, `{"u":"0B6B1A3E-7f43-4c52-9d1e-5a8f2e1c0d11"}`, false, true},
		{`{"u":"<uuid>"}`, `{"u":"0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d12"}`, false, true},
		{`{"u":"<uuid>"}`, `{"u":"0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d11"}`, false, false},
		{`{"t":"<time>"}`, `{"creation_time":"2024-01-01T00:00:00Z"}`, false, false},
		{`{"creation_time":"<time>"}`, `{"creation_time":"2024-01-01T00:00:00Z"}`, false, true},
		{`{"creation_time":""}`, `{"creation_time":""}`, false, true},
		{`{"f":"{{dir}}/a"}`, `{"f":"/tmp/x/a"}`, false, true},
		{`{"n":1}`, `{"n":1.0}`, false, false},
		{`{"n":"<any>"}`, `{"n":[1]}`, false, true},
		{`null`, `null`, false, true},
		{`{"a":null}`, `{"a":"x"}`, false, false},
	}
	for _, tt := range tests {
		w, _ := decode(tt.want)
		g, _ := decode(tt.got)
		err := match(r.normalize(w), r.normalize(g), tt.subset, "")
		if (err == nil) != tt.ok {
			t.Errorf("match(%s, %s, subset %v) = %v, want ok %v", tt.want, tt.got, tt.subset, err, tt.ok)
		}
	}
}
