package integrity

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

// Slack is how many clusters a replica may hold beyond one full copy of the
// volume per ready user snapshot plus the head. It pays for what is not
// volume data: the write-intent bitmap lvol (one small thick lvol) and a
// user snapshot still in state creating, whose lvol exists before the
// manager counts it. It is kept small on purpose: one rebuild snapshot left
// behind on a volume that was rewritten since holds a full copy, far more
// than 4 clusters on any volume of 16 clusters or more, so a leak shows at
// the first round.
const Slack = 4

// SpaceBounded is checker "space-bounded". For each replica of the volume
// (of every volume when volume is ""), the clusters allocated by all of the
// replica's lvols on its node (head, its -snap-*, -rebuilding, -bitmap) must
// be at most
//
//	ceil(size / cluster size) × (1 + ready user snapshots of the volume) + Slack.
//
// That is the promise of issue 8: rebuilds may come and go, space grows
// only with user snapshots. During a rebuild a replica legitimately holds a
// rebuild snapshot and the clusters rewritten since, so check after
// recovery (with Eventually).
//
// Also, per lvstore (the volume's, or every one when volume is ""),
// total_data_clusters - free_clusters must equal the sum of the clusters its
// lvols own: a cluster the allocator handed out that no lvol owns is space
// never given back. Both numbers are in the evidence. An lvstore whose
// counts moved while it was read is Unknown for this part, as is a replica
// on a node that could not be read.
func SpaceBounded(inv Inventory, volume string) checkers.Verdict {
	ix := newIndex(inv)
	nodes := map[string]*NodeInventory{}
	for i := range inv.Nodes {
		nodes[inv.Nodes[i].Node] = &inv.Nodes[i]
	}
	var reps []*api.Replica
	for i := range inv.Replicas {
		if r := &inv.Replicas[i]; volume == "" || r.Spec.Volume == volume {
			reps = append(reps, r)
		}
	}
	if volume != "" && len(reps) == 0 {
		_, known := ix.volumes[volume]
		return checkers.Record(nil, unknown(NameSpaceBounded, fmt.Sprintf("volume %s has no replicas to measure (known to the manager: %t)", volume, known)))
	}
	var outcomes []checkers.Outcome
	var bad, ok []checkers.Evidence
	lvstores := map[string]bool{} // node/uuid of the lvstores in scope
	for _, r := range reps {
		o, e := replicaSpace(ix, nodes[r.Spec.Node], r, lvstores)
		outcomes = append(outcomes, o)
		if o == checkers.Pass {
			ok = append(ok, e)
		} else {
			bad = append(bad, e)
		}
	}
	for _, n := range inv.Nodes {
		if n.Err != "" {
			continue
		}
		for _, s := range n.Lvstores {
			if volume != "" && !lvstores[n.Node+"/"+s.UUID] {
				continue
			}
			o, e := allocatorSpace(n, s)
			outcomes = append(outcomes, o)
			if o == checkers.Pass {
				ok = append(ok, e)
			} else {
				bad = append(bad, e)
			}
		}
	}
	v := checkers.Verdict{Checker: NameSpaceBounded, Outcome: checkers.Merge(outcomes...), Evidence: append(bad, ok...)}
	scope := "every volume"
	if volume != "" {
		scope = "volume " + volume
	}
	switch v.Outcome {
	case checkers.Pass:
		v.Summary = fmt.Sprintf("%s: %d replica(s) within their bound, %d lvstore(s) account for every cluster", scope, len(reps), len(ok)-len(reps))
	default:
		var what []string
		for _, e := range bad {
			what = append(what, e.What)
		}
		v.Summary = fmt.Sprintf("%s: %s", scope, strings.Join(what, "; "))
	}
	return checkers.Record(nil, v)
}

// CheckSpaceBounded reads the inventory and applies SpaceBounded, recording
// the verdict; an inventory that cannot be read is Unknown.
func (c Checker) CheckSpaceBounded(ctx context.Context, volume string) checkers.Verdict {
	inv, err := c.ReadInventory(ctx)
	if err != nil {
		return checkers.Record(c.Recorder, unknown(NameSpaceBounded, err.Error()))
	}
	return checkers.Record(c.Recorder, SpaceBounded(inv, volume))
}

// replicaSpace measures one replica against its bound on node n (nil when
// the node was not read) and adds the lvstore it sits on to scope.
func replicaSpace(ix *index, n *NodeInventory, r *api.Replica, scope map[string]bool) (checkers.Outcome, checkers.Evidence) {
	e := checkers.Evidence{What: "replica " + r.Name}
	switch {
	case r.Spec.Deleting:
		e.Detail = "being deleted: not measured"
		return checkers.Pass, e
	case n == nil:
		e.What += " not measured"
		e.Detail = "node " + r.Spec.Node + " was not read"
		return checkers.Unknown, e
	case n.Err != "":
		e.What += " not measured"
		e.Detail = n.Err
		return checkers.Unknown, e
	}
	var mine []Lvol
	var total uint64
	lvs := r.Spec.DiskUUID
	for _, lv := range n.Lvols {
		if owner, _, _ := ix.match(lv.Name); owner == r && placed(r, n.Node, lv.LvstoreUUID) {
			mine = append(mine, lv)
			total += lv.AllocatedClusters
			lvs = lv.LvstoreUUID
		}
	}
	if lvs != "" {
		scope[n.Node+"/"+lvs] = true
	}
	cs := clusterSize(*n, lvs)
	if len(mine) == 0 || cs == 0 {
		e.Detail = fmt.Sprintf("no lvols on node %s yet", n.Node)
		return checkers.Pass, e
	}
	size := r.Spec.Size
	if size == 0 {
		size = ix.volume(r.Spec.Volume).size
	}
	copies := uint64(1 + ix.volume(r.Spec.Volume).ready)
	full := (uint64(size) + cs - 1) / cs
	bound := full*copies + Slack
	e.Expected = fmt.Sprintf("<= %d clusters (%d per copy × %d + %d slack)", bound, full, copies, Slack)
	e.Actual = fmt.Sprintf("%d clusters", total)
	e.Detail = fmt.Sprintf("node %s lvstore %s: %s", n.Node, lvs, breakdown(r.Name, mine))
	if total > bound {
		e.What = fmt.Sprintf("replica %s holds %d clusters, bound %d", r.Name, total, bound)
		return checkers.Fail, e
	}
	return checkers.Pass, e
}

// breakdown lists a replica's lvols by allocation, largest first.
func breakdown(replica string, lvols []Lvol) string {
	lvols = slices.Clone(lvols)
	slices.SortStableFunc(lvols, func(a, b Lvol) int { return cmp.Compare(b.AllocatedClusters, a.AllocatedClusters) })
	parts := make([]string, len(lvols))
	for i, lv := range lvols {
		name := strings.TrimPrefix(strings.TrimPrefix(lv.Name, replica), "-")
		if name == "" {
			name = "head"
		}
		parts[i] = fmt.Sprintf("%s %d", name, lv.AllocatedClusters)
	}
	return strings.Join(parts, ", ")
}

// allocatorSpace holds lvstore s of node n to its accounting: clusters
// handed out must be exactly those its lvols own.
func allocatorSpace(n NodeInventory, s Lvstore) (checkers.Outcome, checkers.Evidence) {
	var owned uint64
	for _, lv := range n.Lvols {
		if lv.LvstoreUUID == s.UUID {
			owned += lv.AllocatedClusters
		}
	}
	e := checkers.Evidence{
		What:     fmt.Sprintf("lvstore %s on %s", s.Name, n.Node),
		Expected: fmt.Sprintf("used %d clusters (total %d - free %d)", s.Used(), s.TotalDataClusters, s.FreeClusters),
		Actual:   fmt.Sprintf("lvols own %d clusters", owned),
	}
	switch {
	case s.Changed:
		e.What += " changed while read"
		e.Detail = "clusters were allocated or freed between the reads: the accounting cannot be checked"
		return checkers.Unknown, e
	case owned == s.Used():
		return checkers.Pass, e
	case owned < s.Used():
		e.What = fmt.Sprintf("lvstore %s on %s loses %d clusters", s.Name, n.Node, s.Used()-owned)
		e.Detail = "clusters allocated but owned by no lvol: space never given back"
	default:
		e.What = fmt.Sprintf("lvstore %s on %s: lvols own %d clusters more than were allocated", s.Name, n.Node, owned-s.Used())
		e.Detail = "clusters owned twice, or counted free while in use"
	}
	return checkers.Fail, e
}
