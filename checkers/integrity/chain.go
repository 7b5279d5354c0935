package integrity

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

// NameChainMatches is the chain check's name in verdicts.
const NameChainMatches = "chain-matches"

// ChainsMatch checks, for every RW replica of volume, that the chain its
// node holds is the chain the manager's records imply: the disk's copy of
// the volume's backing image (bi-<image>-disk-<lvstore uuid>), then the
// volume's ready snapshots oldest first (<replica>-snap-<name>), then the
// head. A head created again without its parentage (seed 003's wrong fix)
// shows as a chain missing its snapshots or its image. Rebuild snapshots
// (<replica>-snap-rebuild-*) are skipped: they are system snapshots the
// rebuild purges, and no-orphans judges what is left of them.
func ChainsMatch(inv Inventory, volume string) checkers.Verdict {
	v := checkers.Verdict{Checker: NameChainMatches, Outcome: checkers.Pass, At: time.Now()}
	var image string
	for _, vol := range inv.Volumes {
		if vol.Name == volume {
			image = vol.Spec.BackingImage
		}
	}
	var snaps []api.Snapshot
	for _, s := range inv.Snapshots {
		if s.Spec.Volume == volume && s.Status.State == api.SnapshotReady {
			snaps = append(snaps, s)
		}
	}
	slices.SortStableFunc(snaps, func(a, b api.Snapshot) int { return a.Status.CreatedAt.Compare(b.Status.CreatedAt) })
	judged := 0
	for _, r := range inv.Replicas {
		if r.Spec.Volume != volume || r.Status.Mode != api.ModeRW || r.Spec.Deleting {
			continue
		}
		var want []string
		if image != "" {
			want = append(want, "bi-"+image+"-disk-"+r.Spec.DiskUUID)
		}
		for _, s := range snaps {
			want = append(want, r.Name+"-snap-"+s.Spec.SnapshotName)
		}
		want = append(want, r.Name)
		got, err := chainOnNode(inv, r)
		switch {
		case err != nil:
			v.Outcome = worse(v.Outcome, checkers.Unknown)
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "replica " + r.Name, Detail: err.Error()})
		case !slices.Equal(got, want):
			v.Outcome = checkers.Fail
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "chain of replica " + r.Name + " on " + r.Spec.Node,
				Expected: strings.Join(want, " → "), Actual: strings.Join(got, " → ")})
		}
		judged++
	}
	switch v.Outcome {
	case checkers.Pass:
		v.Summary = fmt.Sprintf("the chains of %d RW replicas of %s match the manager's snapshots and backing image", judged, volume)
	case checkers.Fail:
		v.Summary = fmt.Sprintf("a replica of %s holds a chain other than the manager's snapshots and backing image imply", volume)
	default:
		v.Summary = fmt.Sprintf("the chain of a replica of %s could not be read", volume)
	}
	return v
}

// chainOnNode walks a replica's head down its parents on its node and
// returns the chain base first, rebuild snapshots left out.
func chainOnNode(inv Inventory, r api.Replica) ([]string, error) {
	i := slices.IndexFunc(inv.Nodes, func(n NodeInventory) bool { return n.Node == r.Spec.Node })
	if i < 0 {
		return nil, fmt.Errorf("node %s was not read", r.Spec.Node)
	}
	n := inv.Nodes[i]
	if n.Err != "" {
		return nil, fmt.Errorf("node %s: %s", n.Node, n.Err)
	}
	byName := map[string]Lvol{}
	for _, l := range n.Lvols {
		if l.LvstoreUUID == r.Spec.DiskUUID {
			byName[l.Name] = l
		}
	}
	var chain []string
	for name := r.Name; name != ""; {
		l, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("lvol %s of the chain of %s is not on %s", name, r.Name, n.Node)
		}
		if len(chain) > 64 {
			return nil, fmt.Errorf("chain of %s is longer than 64 lvols", r.Name)
		}
		if !strings.HasPrefix(name, r.Name+"-snap-rebuild-") {
			chain = append(chain, name)
		}
		name = l.Parent
	}
	slices.Reverse(chain)
	return chain, nil
}

// worse returns the worse of two outcomes (fail over unknown over pass).
func worse(a, b checkers.Outcome) checkers.Outcome {
	rank := map[checkers.Outcome]int{checkers.Pass: 0, checkers.Unknown: 1, checkers.Fail: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
