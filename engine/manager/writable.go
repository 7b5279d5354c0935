package manager

import (
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// roomFraction is how much of a disk must be free before a volume that ran
// out of space counts as writable again: more than the 1/64 of drift below
// which heartbeats do not refresh a disk's free bytes, so the room is real.
const roomFraction = 32

// writable keeps the volume's Writable condition and reports it. Writes
// that failed for lack of space since the last poll (newNoSpace) make it
// false at once; it turns true again only once every replica's disk shows
// clear room, so a full disk never lets the volume look healthy between
// two failed writes.
func writable(v *api.Volume, vv *volumeView, newNoSpace uint64, now time.Time) bool {
	if newNoSpace > 0 {
		setCondition(v, api.ConditionWritable, false, "OutOfSpace",
			fmt.Sprintf("%d writes failed with ENOSPC: no replica had room (%s)", newNoSpace, replicaRoom(vv)), now)
		return false
	}
	cond, ok := condition(v, api.ConditionWritable)
	if !ok || cond.Status {
		return true
	}
	for _, r := range activeReplicas(vv.replicas) {
		if d, ok := replicaDisk(vv, r); !ok || d.FreeBytes*roomFraction < d.TotalBytes {
			return false
		}
	}
	setCondition(v, api.ConditionWritable, true, "", "", now)
	return true
}

func condition(v *api.Volume, typ string) (api.Condition, bool) {
	for _, c := range v.Status.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return api.Condition{}, false
}

// replicaDisk is the disk a replica sits on, as its node last reported it.
func replicaDisk(vv *volumeView, r api.Replica) (api.Disk, bool) {
	for _, d := range vv.nodes[r.Spec.Node].Status.Disks {
		if d.Name == r.Spec.Disk || (r.Spec.DiskUUID != "" && d.LvstoreUUID == r.Spec.DiskUUID) {
			return d, true
		}
	}
	return api.Disk{}, false
}

// replicaRoom describes the free space of the replicas' disks.
func replicaRoom(vv *volumeView) string {
	var parts []string
	for _, r := range activeReplicas(vv.replicas) {
		if d, ok := replicaDisk(vv, r); ok {
			parts = append(parts, fmt.Sprintf("%s on %s/%s: %d MiB free of %d MiB", r.Name, r.Spec.Node, d.Name, d.FreeBytes>>20, d.TotalBytes>>20))
		}
	}
	return strings.Join(parts, "; ")
}
