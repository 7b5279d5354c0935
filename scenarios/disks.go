package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/faultline/faultline/engine/api"
)

// DisksNeeded is how many disks per node the local cluster must have for
// the scenarios a run selects (by focus, a scenario name, or else by the
// label filter): the largest need among them, at least 1. The CLI starts
// the cluster with that many, so that `faultline run --scenario NAME`
// works for a scenario that needs two disks without further flags.
func DisksNeeded(filter, focus string) (int, error) {
	match, err := types.ParseLabelFilter(LabelFilter(filter, focus))
	if err != nil {
		return 0, fmt.Errorf("label filter %q: %w", filter, err)
	}
	need := 1
	for _, sc := range all() {
		if focus != "" && sc.Name != focus || focus == "" && !match(sc.Labels) {
			continue
		}
		need = max(need, sc.disks)
	}
	return need, nil
}

// RequireDisks skips the spec unless at least n up nodes each report n or
// more disks with an lvstore: a cluster started without enough disks (a
// run of several scenarios given --disks-per-node 1, an attached cluster,
// kind) cannot place what the scenario needs, and saying so beats failing
// on a placement it could never get.
func (s *Spec) RequireDisks(ctx context.Context, nodes, n int) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c := s.Client()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	ok := 0
	for {
		list, err := c.ListNodes(ctx)
		if err == nil {
			ok = 0
			for _, nd := range list {
				if nd.Status.State == api.NodeUp && lvstoreDisks(nd) >= n {
					ok++
				}
			}
			if ok >= nodes {
				return
			}
		}
		select {
		case <-ctx.Done():
			Skip(fmt.Sprintf("needs %d nodes with %d disks each, the cluster has %d (start it with --disks-per-node %d)", nodes, n, ok, n))
		case <-tick.C:
		}
	}
}

// lvstoreDisks counts a node's disks that carry an lvstore.
func lvstoreDisks(n api.Node) int {
	k := 0
	for _, d := range n.Status.Disks {
		if d.LvstoreUUID != "" {
			k++
		}
	}
	return k
}
