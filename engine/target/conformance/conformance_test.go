package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func (r *run) check(s step) (string, error) {
	var got any
	var result json.RawMessage
	if s.raw != "" {
		c := dial(r.t, r.e.socket)
		defer c.close()
		reply, err := c.send(s.raw)
		if s.kind == expClosed {
			if errors.Is(err, io.EOF) {
				r.t.Logf("→ %s\n← (connection closed, no reply)", s.raw)
				return "", nil
			}
			if err != nil {
				return "", err
			}
			r.t.Logf("→ %s\n← %s", s.raw, reply)
			return fmt.Sprintf("reply %s, want the connection closed without a reply", reply), nil
		}
		if err != nil {
			return "", err
		}
		r.t.Logf("→ %s\n← %s", s.raw, reply)
		result = reply
	} else {
		params := r.expand(s.params)
		reply, req, err := r.c.call(s.method, params)
		if err != nil {
			return "", fmt.Errorf("%s: %w", req, err)
		}
		if reply.Error != nil {
			r.t.Logf("→ %s\n← error %d %q", req, reply.Error.Code, reply.Error.Message)
			if s.kind != expError {
				return fmt.Sprintf("error %d %q, want success", reply.Error.Code, reply.Error.Message), nil
			}
			if reply.Error.Code != s.code || reply.Error.Message != s.msg {
				return fmt.Sprintf("error %d %q, want %d %q", reply.Error.Code, reply.Error.Message, s.code, s.msg), nil
			}
			return "", nil
		}
		r.t.Logf("→ %s\n← %s", req, reply.Result)
		if s.kind == expError {
			return fmt.Sprintf("result %s, want error %d %q", reply.Result, s.code, s.msg), nil
		}
		result = reply.Result
	}
	v, err := decode(string(result))
	if err != nil {
		return "", fmt.Errorf("reply %s: %w", result, err)
	}
	if s.keepIf != "" {
		if arr, ok := v.([]any); ok {
			var kept []any
			for _, el := range arr {
				b, _ := json.Marshal(el)
				if strings.Contains(string(b), s.keepIf) {
					kept = append(kept, el)
				}
			}
			if kept == nil {
				kept = []any{}
			}
			v = kept
		}
	}
	got = r.normalize(v)
	if s.kind == expExact || s.kind == expSubset {
		want, err := decode(s.want)
		if err != nil {
			r.t.Fatalf("bad expectation %q: %v", s.want, err)
		}
		if err := match(r.normalize(want), got, s.kind == expSubset, ""); err != nil {
			return err.Error(), nil
		}
	}
	if s.kind == expContains {
		want, err := decode(s.want)
		if err != nil {
			r.t.Fatalf("bad expectation %q: %v", s.want, err)
		}
		garr, ok := got.([]any)
		warr, wok := want.([]any)
		if !ok || !wok {
			return fmt.Sprintf("result %s, want an array holding %s", show(got), s.want), nil
		}
		for _, w := range warr {
			found := false
			for _, g := range garr {
				if match(r.normalize(w), g, false, "") == nil {
					found = true
					break
				}
			}
			if !found {
				return fmt.Sprintf("result lacks %s", show(w)), nil
			}
		}
	}
	for _, p := range s.absent {
		if val, ok := lookup(got, p); ok {
			return fmt.Sprintf("result.%s present (%s), SPDK does not send it", p, show(val)), nil
		}
	}
	for _, c := range s.captures {
		val, ok := lookup(v, c[1])
		if !ok {
			return fmt.Sprintf("nothing at result.%s to capture as %s", c[1], c[0]), nil
		}
		switch x := val.(type) {
		case string:
			r.vars[c[0]] = x
		case json.Number:
			r.vars[c[0]] = x.String()
		default:
			return fmt.Sprintf("result.%s = %s: not a string or number to capture", c[1], show(val)), nil
		}
	}
	return "", nil
}

func (r *run) step(i int, s step) {
	r.t.Helper()
	what := s.method
	if s.raw != "" {
		what = "raw request"
	}
	deadline := time.Now().Add(waitFor)
	for {
		bad, err := r.check(s)
		if err != nil {
			r.t.Fatalf("step %d (%s): %v", i+1, what, err)
		}
		if bad == "" {
			return
		}
		if !s.poll || time.Now().After(deadline) {
			r.t.Fatalf("step %d (%s %s): %s", i+1, what, r.expand(s.params), bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runCase(t *testing.T, e *env, tc tcase) {
	if tc.knownDifference != "" && !e.spdk && os.Getenv("CONFORMANCE_RUN_KNOWN") == "" {
		reason := tc.knownDifference
		if entry, ok := strings.CutPrefix(reason, "docs/jsonrpc.md: "); ok {
			if !strings.Contains(e.diffDoc, strings.Join(strings.Fields(entry), " ")) {
				t.Fatalf("knownDifference %q is not listed in docs/jsonrpc.md \"Deliberate differences from SPDK\"", entry)
			}
		} else if !strings.HasPrefix(reason, "BUG: ") {
			t.Fatalf("knownDifference %q must start with \"docs/jsonrpc.md: \" or \"BUG: \"", reason)
		}
		t.Skip("known difference from SPDK: " + reason)
	}
	for name, size := range tc.files {
		path := filepath.Join(e.dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		err = f.Truncate(size)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o644)
	}
	r := &run{t: t, e: e, c: dial(t, e.socket), vars: map[string]string{}, literal: map[string]bool{}}
	defer r.c.close()
	for _, s := range append(slices.Clone(tc.steps), tc.cleanup...) {
		for _, u := range uuidInText.FindAllString(s.params+s.raw, -1) {
			r.literal[strings.ToLower(u)] = true
		}
	}
	t.Cleanup(func() {
		c := dial(t, e.socket)
		defer c.close()
		for _, s := range tc.cleanup {
			params := placeholder.ReplaceAllStringFunc(s.params, func(m string) string {
				name := m[2 : len(m)-2]
				if name == "dir" {
					return e.dir
				}
				return r.vars[name]
			})
			reply, req, err := c.call(s.method, params)
			if err != nil {
				t.Logf("cleanup %s: %v", req, err)
				return
			}
			if reply.Error != nil {
				t.Logf("cleanup → %s\n← error %d %q (ignored)", req, reply.Error.Code, reply.Error.Message)
			} else {
				t.Logf("cleanup → %s\n← %s", req, reply.Result)
			}
		}
	})
	for i, s := range tc.steps {
		r.step(i, s)
	}
}

// TestConformance runs every case, in order, on one target (as a
// long-lived spdk_tgt would see them).
func TestConformance(t *testing.T) {
	e := setup(t)
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) { runCase(t, e, tc) })
	}
}

// TestSuiteSize: the issue asks for at least 150 calls.
func TestSuiteSize(t *testing.T) {
	n, cleanup := 0, 0
	for _, tc := range cases() {
		n += len(tc.steps)
		cleanup += len(tc.cleanup)
	}
	t.Logf("%d cases, %d calls (and %d cleanup calls)", len(cases()), n, cleanup)
	if n < 150 {
		t.Errorf("the cases make %d calls, want at least 150", n)
	}
}

// TestCaseHygiene: unique names, a citation each, and every object name a
// case uses carries its own prefix (so cases never clash on a shared
// target).
func TestCaseHygiene(t *testing.T) {
	seen := map[string]bool{}
	prefixes := map[string]string{}
	for _, tc := range cases() {
		if seen[tc.name] {
			t.Errorf("duplicate case name %s", tc.name)
		}
		seen[tc.name] = true
		if tc.cite == "" {
			t.Errorf("%s cites no SPDK source", tc.name)
		}
		p := prefixRE.FindString(tc.name)
		if p == "" || !strings.HasPrefix(tc.name, p) {
			t.Errorf("case name %s does not start with a cf<N>_ prefix", tc.name)
			continue
		}
		if other, ok := prefixes[p]; ok {
			t.Errorf("cases %s and %s share the prefix %s", other, tc.name, p)
		}
		prefixes[p] = tc.name
		for _, s := range append(slices.Clone(tc.steps), tc.cleanup...) {
			for _, q := range prefixRE.FindAllString(s.params+s.raw, -1) {
				if q != p {
					t.Errorf("%s uses the name prefix %s of another case", tc.name, q)
				}
			}
		}
		if len(tc.steps) == 0 {
			t.Errorf("%s has no steps", tc.name)
		}
	}
}
