package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/target"
)

// A case is a short sequence of calls with SPDK's replies. Every case
// creates objects named with its own prefix (the case name up to and
// including the first "_", e.g. cf3_) and lists cleanup calls that always
// run, errors ignored, so that a shared target is left as found.
type tcase struct {
	name string
	// cite names the SPDK source (file and function) the expectations come
	// from (for a reader: it is not checked).
	cite string
	// knownDifference, when set, makes the refengine run skip the case:
	// "docs/jsonrpc.md: <entry>" names a deliberate difference listed in
	// docs/jsonrpc.md, "BUG: <what>" a refengine bug not yet fixed.
	knownDifference string
	// files are created (zero-filled, name → size) in the temp dir before
	// the steps run, e.g. aio backing files.
	files   map[string]int64
	steps   []step
	cleanup []step
}

// A step is one call and one expectation of its reply.
type step struct {
	method string
	params string // JSON text; {{dir}} and {{var}} are replaced; "" sends no params
	// raw, when set, is sent as is on a fresh connection instead of a
	// request made of method and params; the expectation is then matched
	// against the whole reply (envelope included).
	raw string

	kind   expKind
	want   string // exact or subset JSON
	code   int    // kind expError
	msg    string // kind expError
	absent []string
	// captures: variable name → path into the result ("" for the result
	// itself); see path.
	captures [][2]string
	// keepIf: for an array result, keep only elements whose JSON text
	// contains this string (scopes a list on a shared target).
	keepIf string
	// poll repeats the call until the reply matches, up to waitFor.
	poll bool
}

type expKind int

const (
	expAny      expKind = iota // success, any result (cleanup, or a reply nothing depends on)
	expExact                   // result equals want
	expSubset                  // result contains want
	expError                   // error code and message
	expContains                // result is an array holding every element of want
	expClosed                  // raw: the connection is closed with no reply
)

const (
	waitFor      = 30 * time.Second // poll deadline of a step with wait()
	replyTimeout = 20 * time.Second // for one reply
)

// ok expects the exact result want.
func ok(method, params, want string) step {
	return step{method: method, params: params, kind: expExact, want: want}
}

// has expects a result containing want: every key of an object in want is
// in the reply with a matching value (objects compared the same way,
// arrays element by element with the same length).
func has(method, params, want string) step {
	return step{method: method, params: params, kind: expSubset, want: want}
}

// fails expects an error reply with this code and message.
func fails(method, params string, code int, msg string) step {
	return step{method: method, params: params, kind: expError, code: code, msg: msg}
}

// do expects success, whatever the result.
func do(method, params string) step {
	return step{method: method, params: params, kind: expAny}
}

// raw sends text as is and matches the whole reply against want exactly.
func raw(text, want string) step {
	return step{raw: text, kind: expExact, want: want}
}

// rawHas sends text as is and expects the whole reply to contain want.
func rawHas(text, want string) step {
	return step{raw: text, kind: expSubset, want: want}
}

// rawClosed sends text as is and expects the target to close the
// connection without replying.
func rawClosed(text string) step {
	return step{raw: text, kind: expClosed}
}

// contains expects an array result holding every element of want (in any
// order, among others).
func contains(method, params, want string) step {
	return step{method: method, params: params, kind: expContains, want: want}
}

func (s step) without(paths ...string) step {
	s.absent = append(slices.Clone(s.absent), paths...)
	return s
}

func (s step) capture(name, path string) step {
	s.captures = append(slices.Clone(s.captures), [2]string{name, path})
	return s
}

func (s step) keep(sub string) step {
	s.keepIf = sub
	return s
}

func (s step) wait() step {
	s.poll = true
	return s
}

// allCases is filled by the cases_*_test.go files.
var allCases [][]tcase

func cases() []tcase {
	var out []tcase
	for _, g := range allCases {
		out = append(out, g...)
	}
	return out
}

// Common setup calls. Sizes: 64 MiB malloc bdevs of 512-byte blocks, 1 MiB
// clusters.
func malloc(name string, mib int) step {
	return ok("bdev_malloc_create", fmt.Sprintf(`{"name":%q,"num_blocks":%d,"block_size":512}`, name, mib*2048), strconv.Quote(name))
}

// mallocBoundary creates a malloc bdev with an optimal I/O boundary (in
// blocks), as raid1's delta bitmap needs.
func mallocBoundary(name string, mib, boundary int) step {
	return ok("bdev_malloc_create", fmt.Sprintf(`{"name":%q,"num_blocks":%d,"block_size":512,"optimal_io_boundary":%d}`, name, mib*2048, boundary), strconv.Quote(name))
}

func mallocDel(name string) step {
	return do("bdev_malloc_delete", fmt.Sprintf(`{"name":%q}`, name))
}

func lvstore(bdev, lvs string) step {
	return ok("bdev_lvol_create_lvstore", fmt.Sprintf(`{"bdev_name":%q,"lvs_name":%q,"cluster_sz":1048576}`, bdev, lvs), `"<uuid>"`)
}

func lvstoreDel(lvs string) step {
	return do("bdev_lvol_delete_lvstore", fmt.Sprintf(`{"lvs_name":%q}`, lvs))
}

// lvol creates a thin lvol and captures its UUID as variable name.
func lvol(lvs, name string, mib int) step {
	return ok("bdev_lvol_create", fmt.Sprintf(`{"lvs_name":%q,"lvol_name":%q,"size_in_mib":%d,"thin_provision":true}`, lvs, name, mib), `"<uuid>"`).capture(name, "")
}

func raidDel(name string) step {
	return do("bdev_raid_delete", fmt.Sprintf(`{"name":%q}`, name))
}

// target is where the cases run: a socket path, and for refengine the
// in-process target's stop function.
type env struct {
	socket  string
	dir     string
	spdk    bool
	diffDoc string // docs/jsonrpc.md "Deliberate differences" section
}

func setup(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	// A real spdk_tgt (often another user) opens aio files in it.
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			break
		}
	}
	e := &env{dir: dir}
	if s := os.Getenv("SPDK_RPC_SOCKET"); s != "" {
		e.socket, e.spdk = s, true
		t.Logf("running against the SPDK-compatible target at %s", s)
		return e
	}
	tgt := target.New(target.Options{AllowedDirs: []string{dir}})
	srv := jsonrpc.NewServer(nil)
	tgt.Register(srv)
	sockDir, err := os.MkdirTemp("", "cf-sock")
	if err != nil {
		t.Fatal(err)
	}
	e.socket = filepath.Join(sockDir, "rpc.sock")
	l, err := jsonrpc.ListenUnix(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		tgt.Close()
		os.RemoveAll(sockDir)
	})
	doc, err := os.ReadFile("../../../docs/jsonrpc.md")
	if err != nil {
		t.Fatalf("reading the deliberate differences: %v", err)
	}
	e.diffDoc = differences(string(doc))
	if e.diffDoc == "" {
		t.Fatal(`docs/jsonrpc.md has no "Deliberate differences from SPDK" section`)
	}
	return e
}

// differences returns the deliberate differences docs/jsonrpc.md lists:
// the section "Deliberate differences from SPDK" and the raid section's
// "Differences from SPDK, on purpose" it refers to ("Besides the raid
// differences above"), with white space collapsed.
func differences(doc string) string {
	section := func(start string) string {
		i := strings.Index(doc, start)
		if i < 0 {
			return ""
		}
		s := doc[i:]
		if j := strings.Index(s[len(start):], "\n## "); j >= 0 {
			s = s[:len(start)+j]
		}
		return s
	}
	d := section("## Deliberate differences from SPDK")
	if d == "" {
		return ""
	}
	if raid := section("Differences from SPDK, on purpose:"); raid != "" {
		d += "\n" + raid
	}
	return strings.Join(strings.Fields(d), " ")
}

// client is a raw JSON-RPC 2.0 client: one request at a time.
type client struct {
	conn net.Conn
	dec  *json.Decoder
	id   int
}

var clientIDs atomic.Int64

func dial(t *testing.T, socket string) *client {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatalf("dial %s: %v", socket, err)
	}
	return &client{conn: conn, dec: json.NewDecoder(conn), id: int(clientIDs.Add(1000))}
}

func (c *client) close() { c.conn.Close() }

// send writes text and reads one JSON value back.
func (c *client) send(text string) (json.RawMessage, error) {
	c.conn.SetDeadline(time.Now().Add(replyTimeout))
	if _, err := c.conn.Write([]byte(text)); err != nil {
		return nil, err
	}
	var reply json.RawMessage
	if err := c.dec.Decode(&reply); err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	return reply, nil
}

type rpcReply struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call sends one request and returns its reply.
func (c *client) call(method string, params string) (rpcReply, string, error) {
	c.id++
	req := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"id":%d`, method, c.id)
	if params != "" {
		req += `,"params":` + params
	}
	req += "}"
	raw, err := c.send(req)
	if err != nil {
		return rpcReply{}, req, err
	}
	var r rpcReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, req, fmt.Errorf("reply %s: %w", raw, err)
	}
	if string(r.ID) != strconv.Itoa(c.id) {
		return r, req, fmt.Errorf("reply %s: id %s, want %d", raw, r.ID, c.id)
	}
	return r, req, nil
}

var (
	placeholder = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\}\}`)
	uuidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	uuidInText  = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	prefixRE    = regexp.MustCompile(`\bcf[0-9]+_`)
)

const zeroUUID = "00000000-0000-0000-0000-000000000000"

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
