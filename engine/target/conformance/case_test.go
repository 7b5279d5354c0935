package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"time"
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
