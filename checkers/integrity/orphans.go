package integrity

import (
	"context"
	"fmt"
	"strings"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

// NoOrphans is checker "no-orphans": every lvol on every node must belong
// to something the manager knows. Orphans are listed by name with node,
// lvstore, allocated space and the reason in the evidence. A node that
// could not be read makes the verdict Unknown, unless orphans were found
// elsewhere (then Fail).
//
// An lvol is owned when one of these holds. Replicas are matched on the
// node and lvstore the manager placed them on (Spec.Node, and Spec.DiskUUID
// when set); an lvol name belongs to the longest known replica name that is
// the whole name or is followed by "-" in it.
//
//  1. <replica>, not a snapshot: the head of a known replica.
//  2. <replica>-bitmap: its write-intent bitmap.
//  3. <replica>-snap-<name>: <name> is the SnapshotName of a ready or
//     creating snapshot of the replica's volume; or <name> starts with
//     "rebuild-" and the volume is rebuilding (one of its replicas is WO).
//  4. <replica>-rebuilding of a replica in mode WO.
//  5. bi-<image>-disk-<uuid>, a snapshot of a known backing image, on the
//     lvstore with that uuid.
//  6. Any lvol of a replica whose record has Spec.Deleting: its deletion
//     is in progress. Such lvols are mentioned in the evidence.
//  7. Any lvol in the chain of a known, correctly placed head (its
//     base_snapshot, that one's, and so on): the head reads through it, so
//     it is data whatever its name says, and deleting it would lose data.
//     Evidence mentions these, because a name no rule explains is worth a
//     look. The one exception is a rebuild snapshot while the volume is not
//     rebuilding: it still holds data, but it is exactly what the purge
//     after a rebuild must merge away (as Longhorn purges system
//     snapshots), and chains that grow one -snap-rebuild- per rebuild are
//     how the disk fills. It is an orphan ("system snapshot left after
//     rebuild"), in a chain or not.
//
// Everything else is an orphan, with the first rule it failed as reason.
// An operation that starts or ends between the node reads and the manager
// read (a rebuild finishing, say) can make an lvol look orphaned for a
// moment: check after recovery with Eventually.
func NoOrphans(inv Inventory) checkers.Verdict {
	ix := newIndex(inv)
	var orphans, notes, unread []checkers.Evidence
	var orphanBytes uint64
	lvols, nodes := 0, 0
	for _, n := range inv.Nodes {
		if n.Err != "" {
			unread = append(unread, checkers.Evidence{What: "node " + n.Node + " not read", Detail: n.Err})
			continue
		}
		nodes++
		chain := chains(ix, n)
		for _, lv := range n.Lvols {
			lvols++
			why, note := ix.judge(n.Node, lv, chain[lvolKey(lv)])
			if why == "" {
				if note != "" {
					notes = append(notes, checkers.Evidence{What: "owned " + lv.Name, Detail: where(n, lv) + ": " + note})
				}
				continue
			}
			orphanBytes += lv.AllocatedClusters * clusterSize(n, lv.LvstoreUUID)
			orphans = append(orphans, checkers.Evidence{What: "orphan " + lv.Name, Actual: lv.Name,
				Detail: fmt.Sprintf("%s, %s allocated: %s", where(n, lv), clustersText(n, lv), why)})
		}
	}
	v := checkers.Verdict{Checker: NameNoOrphans}
	switch {
	case len(orphans) > 0:
		v.Outcome = checkers.Fail
		v.Summary = fmt.Sprintf("%d orphan lvol(s) holding %s: %s", len(orphans), mibText(orphanBytes), orphanNames(orphans))
		if len(unread) > 0 {
			v.Summary += fmt.Sprintf("; %d node(s) could not be read", len(unread))
		}
	case len(unread) > 0:
		v.Outcome = checkers.Unknown
		v.Summary = fmt.Sprintf("no orphan among %d lvols on %d node(s), but %d node(s) could not be read: their lvols are unknown",
			lvols, nodes, len(unread))
	default:
		v.Outcome = checkers.Pass
		v.Summary = fmt.Sprintf("%d lvols on %d node(s), each owned by a replica, snapshot or backing image the manager knows", lvols, nodes)
	}
	v.Evidence = append(append(orphans, unread...), notes...)
	return checkers.Record(nil, v)
}

// CheckNoOrphans reads the inventory and applies NoOrphans, recording the
// verdict; an inventory that cannot be read is Unknown.
func (c Checker) CheckNoOrphans(ctx context.Context) checkers.Verdict {
	inv, err := c.ReadInventory(ctx)
	if err != nil {
		return checkers.Record(c.Recorder, unknown(NameNoOrphans, err.Error()))
	}
	return checkers.Record(c.Recorder, NoOrphans(inv))
}

// judge returns why lv, on node, is an orphan, or "" when it is owned (then
// note may say something worth knowing). head is the live head whose chain
// lv is in, or "".
func (ix *index) judge(node string, lv Lvol, head string) (why, note string) {
	why, purge := ix.byName(node, lv)
	if why != "" && head != "" {
		if !purge {
			return "", fmt.Sprintf("in the chain of head %s, so it is data (by name alone: %s)", head, why)
		}
		why += " (in the chain of " + head + ": the purge after a rebuild must merge it)"
	}
	if r, _, _ := ix.match(lv.Name); why == "" && r != nil && r.Spec.Deleting {
		note = "replica " + r.Name + " is being deleted"
	}
	return why, note
}

// byName applies rules 1-6 to lv's name. purge is set for a rebuild
// snapshot outside a rebuild, which a chain does not excuse.
func (ix *index) byName(node string, lv Lvol) (why string, purge bool) {
	r, p, snap := ix.match(lv.Name)
	if r == nil {
		return ix.notReplica(lv), false
	}
	if !placed(r, node, lv.LvstoreUUID) {
		return fmt.Sprintf("lvol of replica %s, which the manager placed on node %s lvstore %q", r.Name, r.Spec.Node, r.Spec.DiskUUID), false
	}
	if r.Spec.Deleting {
		return "", false
	}
	vol := ix.volume(r.Spec.Volume)
	switch p {
	case partHead:
		if lv.Snapshot {
			return "named as the head of " + r.Name + " but is a snapshot", false
		}
	case partBitmap:
	case partRebuilding:
		if r.Status.Mode != api.ModeWO {
			return fmt.Sprintf("rebuilding lvol but %s is not rebuilding (mode %q)", r.Name, r.Status.Mode), false
		}
	case partSnapshot:
		return snapshotOrphan(r, vol, snap)
	default:
		return fmt.Sprintf("named after replica %s with a suffix refengine never makes", r.Name), false
	}
	return "", false
}

// snapshotOrphan applies rule 3 to <replica>-snap-<snap>.
func snapshotOrphan(r *api.Replica, vol *volumeFacts, snap string) (why string, purge bool) {
	if strings.HasPrefix(snap, rebuildSnapPrefix) {
		if vol.rebuilding {
			return "", false
		}
		return fmt.Sprintf("system snapshot left after rebuild: volume %s is not rebuilding", r.Spec.Volume), true
	}
	switch state, ok := vol.snapshots[snap]; {
	case !ok:
		return fmt.Sprintf("no snapshot %q of volume %s known to the manager", snap, r.Spec.Volume), false
	case state != api.SnapshotReady && state != api.SnapshotCreating:
		return fmt.Sprintf("snapshot %q of volume %s is in state %q", snap, r.Spec.Volume, state), false
	}
	return "", false
}

// notReplica applies rule 5 to an lvol no known replica name fits, and
// otherwise says what it looks like.
func (ix *index) notReplica(lv Lvol) string {
	if image, lvs, ok := backingImageOf(lv.Name); ok {
		switch {
		case !ix.images[image]:
			return fmt.Sprintf("no backing image %q known to the manager", image)
		case lvs != lv.LvstoreUUID:
			return fmt.Sprintf("copy of backing image %q for lvstore %s sits on lvstore %s", image, lvs, lv.LvstoreUUID)
		case !lv.Snapshot:
			return fmt.Sprintf("copy of backing image %q is not a snapshot", image)
		}
		return ""
	}
	if m := replicaLike.FindStringSubmatch(lv.Name); m != nil {
		return fmt.Sprintf("no replica %s known to the manager", m[1])
	}
	return "not named after a replica, snapshot or backing image the manager knows"
}

// chains maps every lvol (by lvolKey) in the chain of a known, correctly
// placed head on node n to that head's name.
func chains(ix *index, n NodeInventory) map[string]string {
	byKey := make(map[string]Lvol, len(n.Lvols))
	for _, lv := range n.Lvols {
		byKey[lvolKey(lv)] = lv
	}
	out := map[string]string{}
	for _, lv := range n.Lvols {
		r, p, _ := ix.match(lv.Name)
		if r == nil || p != partHead || lv.Snapshot || !placed(r, n.Node, lv.LvstoreUUID) {
			continue
		}
		// A walk stops at an lvol already marked: the rest of the chain is
		// shared with a head walked before (clones of one backing image),
		// or the metadata has a loop, which must not spin.
		for parent := lv.Parent; parent != ""; {
			cur, ok := byKey[lv.LvstoreUUID+"/"+parent]
			if !ok {
				break
			}
			key := lvolKey(cur)
			if _, seen := out[key]; seen {
				break
			}
			out[key] = lv.Name
			parent = cur.Parent
		}
	}
	return out
}

func lvolKey(lv Lvol) string { return lv.LvstoreUUID + "/" + lv.Name }

// where renders an lvol's location for the evidence.
func where(n NodeInventory, lv Lvol) string {
	w := fmt.Sprintf("node %s lvstore %s (%s)", n.Node, lv.LvstoreName, lv.LvstoreUUID)
	if lv.Degraded {
		w += ", degraded (its external snapshot is gone; no bdev)"
	}
	return w
}

// clusterSize is the cluster size of an lvstore of n, 0 when unknown.
func clusterSize(n NodeInventory, uuid string) uint64 {
	for _, s := range n.Lvstores {
		if s.UUID == uuid {
			return s.ClusterSize
		}
	}
	return 0
}

// clustersText renders an lvol's allocation in MiB, or in clusters when
// its lvstore's cluster size is unknown.
func clustersText(n NodeInventory, lv Lvol) string {
	if cs := clusterSize(n, lv.LvstoreUUID); cs > 0 {
		return mibText(lv.AllocatedClusters * cs)
	}
	return fmt.Sprintf("%d clusters", lv.AllocatedClusters)
}

func mibText(b uint64) string {
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
}

// orphanNames lists the first orphans' names for a summary.
func orphanNames(ev []checkers.Evidence) string {
	const show = 5
	names := make([]string, 0, show)
	for _, e := range ev[:min(len(ev), show)] {
		names = append(names, e.Actual)
	}
	s := strings.Join(names, ", ")
	if len(ev) > show {
		s += fmt.Sprintf(" and %d more", len(ev)-show)
	}
	return s
}
