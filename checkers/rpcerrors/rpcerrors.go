// Package rpcerrors checks what storage nodes answered on their JSON-RPC:
// seed bug 003 showed as bdev_lvol_create (or bdev_lvol_clone) of a replica
// head that already existed, answered "File exists" (-17). A volume can
// recover from that by other means (a new replica), so the volume's state
// alone may never show it; the node's own count of its error answers
// (refengine_get_rpc_errors) does.
package rpcerrors

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// Name is the checker's name in verdicts.
const Name = "rpc-no-head-exists"

// Method is the node method listing its error answers since it started.
const Method = "refengine_get_rpc_errors"

// codeExists is -EEXIST, what bdev_lvol_create answers for a name in use;
// bdev_lvol_clone reports the same errno through its completion, as -32602
// with the message below (SPDK's rpc_bdev_lvol_clone_cb).
const (
	codeExists    = -17
	messageExists = "File exists"
)

// Answer is one kind of error answer and how often a node gave it.
type Answer struct {
	Method  string `json:"method"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// Read asks a node for its error answers on c, a connection to its
// JSON-RPC (the framework's cluster.DialNode).
func Read(ctx context.Context, c *jsonrpc.Client) ([]Answer, error) {
	var out []Answer
	if err := c.Call(ctx, Method, nil, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", Method, err)
	}
	return out, nil
}

// headCreates are the methods that make a replica head.
var headCreates = []string{"bdev_lvol_create", "bdev_lvol_clone"}

// Check fails when any node answered a head creation with "File exists":
// something created an lvol it should have found on disk. byNode maps a
// node's name to its answers; a node missing from it is not judged.
func Check(byNode map[string][]Answer) checkers.Verdict {
	v := checkers.Verdict{Checker: Name, Outcome: checkers.Pass, At: time.Now()}
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var total uint64
	for _, n := range nodes {
		for _, a := range byNode[n] {
			if !slices.Contains(headCreates, a.Method) || (a.Code != codeExists && a.Message != messageExists) {
				continue
			}
			total += a.Count
			v.Evidence = append(v.Evidence, checkers.Evidence{What: n + " " + a.Method, Expected: "no File exists answer",
				Actual: fmt.Sprintf("%d× %d %s", a.Count, a.Code, a.Message)})
		}
	}
	if total > 0 {
		v.Outcome = checkers.Fail
		v.Summary = fmt.Sprintf("%d lvol create/clone calls answered File exists (a head created again while it existed)", total)
		return v
	}
	v.Summary = fmt.Sprintf("no lvol create/clone answered File exists on %d nodes", len(nodes))
	return v
}
