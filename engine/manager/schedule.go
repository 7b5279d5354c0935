package manager

import (
	"sort"

	"github.com/faultline/faultline/engine/api"
)

// placement is where a new replica goes.
type placement struct {
	Node string
	Disk api.Disk
}

// scheduleReplicas picks up to count placements for new replicas of vol:
// at most one replica of a volume per node (nodes in exclude already hold
// one), only up nodes, only disks with an lvstore whose scheduled size
// (existing replicas on that disk plus this one) stays within overPct percent
// of the disk's total bytes. Nodes holding fewer replicas overall go first,
// then those with more room, then by name, so the choice is deterministic.
func scheduleReplicas(vol api.Volume, count int, nodes []api.Node, all []api.Replica, exclude map[string]bool, overPct int) []placement {
	scheduled := map[string]int64{} // node/disk → bytes
	perNode := map[string]int{}
	for _, r := range all {
		scheduled[r.Spec.Node+"/"+r.Spec.Disk] += r.Spec.Size
		perNode[r.Spec.Node]++
	}
	type cand struct {
		placement
		room int64
	}
	var cands []cand
	for _, n := range nodes {
		if n.Status.State != api.NodeUp || exclude[n.Name] {
			continue
		}
		best := cand{room: -1}
		for _, d := range n.Status.Disks {
			if d.LvstoreUUID == "" && d.LvstoreName == "" {
				continue
			}
			room := d.TotalBytes*int64(overPct)/100 - scheduled[n.Name+"/"+d.Name] - vol.Spec.Size
			if room < 0 || d.FreeBytes <= 0 {
				continue
			}
			if room > best.room {
				best = cand{placement{n.Name, d}, room}
			}
		}
		if best.room >= 0 {
			cands = append(cands, best)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if perNode[a.Node] != perNode[b.Node] {
			return perNode[a.Node] < perNode[b.Node]
		}
		if a.room != b.room {
			return a.room > b.room
		}
		return a.Node < b.Node
	})
	if len(cands) > count {
		cands = cands[:count]
	}
	out := make([]placement, len(cands))
	for i, c := range cands {
		out[i] = c.placement
	}
	return out
}
