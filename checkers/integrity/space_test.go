package integrity

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

func TestSpaceBounded(t *testing.T) {
	// Volume v is 16 MiB on 1 MiB clusters: 16 clusters a copy, so with
	// no user snapshot the bound is 16 + Slack = 20 clusters.
	const bound = 16 + Slack
	// onA gives rA's lvols on n1 a total of total clusters: the head, its
	// bitmap of 1 and one rebuild snapshot holding the rest.
	onA := func(total uint64) change {
		return func(in *Inventory) {
			replace("n1", lv(rA, lvs1, 10, rA+"-snap-rebuild-00000000"))(in)
			add("n1", snap(rA+"-snap-rebuild-00000000", lvs1, total-11, ""))(in)
		}
	}
	otherVolume := func(in *Inventory) {
		in.Volumes = append(in.Volumes, api.Volume{Name: "w", Spec: api.VolumeSpec{Size: 4 << 20}})
		in.Replicas = append(in.Replicas, api.Replica{Name: "w-r-cccccccc", Spec: api.ReplicaSpec{Volume: "w", Node: "n2", DiskUUID: lvs2, Size: 4 << 20}})
		add("n2", lv("w-r-cccccccc", lvs2, 30, ""))(in)
	}
	tests := []struct {
		name    string
		volume  string
		changes []change
		want    checkers.Outcome
		summary []string
		bad     []string // parts of the What of failing or unknown evidence
	}{
		{name: "clean", volume: "v", want: checkers.Pass, summary: []string{"volume v: 2 replica(s) within their bound, 2 lvstore(s)"}},
		{name: "clean, every volume", want: checkers.Pass, summary: []string{"every volume: 2 replica(s) within their bound, 3 lvstore(s)"}},
		{name: "at the bound", volume: "v", changes: []change{onA(bound)}, want: checkers.Pass},
		{name: "one over the bound", volume: "v", changes: []change{onA(bound + 1)}, want: checkers.Fail,
			bad: []string{"replica " + rA + " holds 21 clusters, bound 20"}},
		{name: "rebuild snapshots pile up", volume: "v", changes: []change{onA(11 + 3*16)}, want: checkers.Fail,
			bad: []string{"replica " + rA + " holds 59 clusters, bound 20"}},
		{name: "ready user snapshots raise the bound", volume: "v", changes: []change{onA(11 + 16),
			userSnapshot("s1", api.SnapshotReady), userSnapshot("s2", api.SnapshotCreating)}, want: checkers.Pass},
		{name: "snapshots that are not ready do not", volume: "v", changes: []change{onA(11 + 16),
			userSnapshot("s1", api.SnapshotError), userSnapshot("s2", api.SnapshotCreating)}, want: checkers.Fail,
			bad: []string{"holds 27 clusters, bound 20"}},
		{name: "rebuilding lvol counts", volume: "v", changes: []change{replica(rB, mode(api.ModeWO)),
			add("n2", lv(rB+"-rebuilding", lvs2, 12, ""))}, want: checkers.Fail, bad: []string{"replica " + rB + " holds 23 clusters"}},
		{name: "lvols on another lvstore are not the replica's", volume: "v", changes: []change{add("n1", lv(rA+"-rebuilding", lvs3, 40, ""))},
			want: checkers.Pass},
		{name: "replica being deleted is not measured", volume: "v", changes: []change{onA(100 - 11),
			replica(rA, func(r *api.Replica) { r.Spec.Deleting = true })}, want: checkers.Pass},
		{name: "size from the volume when the replica has none", volume: "v", changes: []change{onA(bound + 1),
			replica(rA, func(r *api.Replica) { r.Spec.Size = 0 })}, want: checkers.Fail, bad: []string{"bound 20"}},
		{name: "no lvols yet", volume: "v", changes: []change{func(in *Inventory) {
			in.Nodes[0].Lvols = nil
			in.Nodes[0] = balance(in.Nodes[0])
		}}, want: checkers.Pass},

		// The allocator's books.
		{name: "allocator lost clusters", volume: "v", changes: []change{allocator("n2", lvs2, -3, false)}, want: checkers.Fail,
			bad: []string{"lvstore lvs-n2 on n2 loses 3 clusters"}},
		{name: "lvols own more than was allocated", volume: "v", changes: []change{allocator("n1", lvs1, +2, false)}, want: checkers.Fail,
			bad: []string{"lvols own 2 clusters more than were allocated"}},
		{name: "allocator moved while read", volume: "v", changes: []change{allocator("n1", lvs1, -3, true)}, want: checkers.Unknown,
			bad: []string{"lvstore lvs-n1 on n1 changed while read"}},
		{name: "other lvstore of the node is out of scope for a volume", volume: "v", changes: []change{allocator("n1", lvs3, -5, false)},
			want: checkers.Pass},
		{name: "but in scope for every volume", changes: []change{allocator("n1", lvs3, -5, false)}, want: checkers.Fail,
			bad: []string{"lvstore lvs-n1b on n1 loses 5 clusters"}},
		{name: "fail beats unknown", volume: "v", changes: []change{allocator("n1", lvs1, 0, true), onA(40)}, want: checkers.Fail,
			bad: []string{"changed while read", "holds 40 clusters"}},

		// Scope and unreadable nodes.
		{name: "another volume over its bound is not this one's problem", volume: "v", changes: []change{otherVolume}, want: checkers.Pass},
		{name: "every volume", changes: []change{otherVolume}, want: checkers.Fail, bad: []string{"replica w-r-cccccccc holds 30 clusters, bound 8"}},
		{name: "unknown volume", volume: "nope", want: checkers.Unknown, summary: []string{"volume nope has no replicas"}},
		{name: "node not read", volume: "v", changes: []change{nodeErr("n2")}, want: checkers.Unknown,
			bad: []string{"replica " + rB + " not measured"}},
		{name: "node missing from the inventory", volume: "v", changes: []change{func(in *Inventory) { in.Nodes = in.Nodes[:1] }},
			want: checkers.Unknown, bad: []string{"replica " + rB + " not measured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := SpaceBounded(build(tt.changes...), tt.volume)
			want(t, v, NameSpaceBounded, tt.want, tt.summary...)
			for _, part := range tt.bad {
				if !strings.Contains(v.Summary, part) {
					t.Errorf("summary %q lacks %q\n%s", v.Summary, part, evidenceText(v))
				}
			}
		})
	}
}

// TestSpaceBoundedEvidence checks the numbers a reader gets for a replica
// over its bound and for an lvstore that lost clusters.
func TestSpaceBoundedEvidence(t *testing.T) {
	in := build(
		replace("n1", lv(rA, lvs1, 10, rA+"-snap-rebuild-00000000")),
		add("n1", snap(rA+"-snap-rebuild-00000000", lvs1, 16, "")),
		allocator("n2", lvs2, -3, false))
	v := SpaceBounded(in, "v")
	want(t, v, NameSpaceBounded, checkers.Fail)
	var rep, store checkers.Evidence
	for _, e := range v.Evidence {
		switch {
		case strings.HasPrefix(e.What, "replica "+rA+" holds"):
			rep = e
		case strings.HasPrefix(e.What, "lvstore lvs-n2"):
			store = e
		}
	}
	if rep.Expected != "<= 20 clusters (16 per copy × 1 + 4 slack)" || rep.Actual != "27 clusters" ||
		rep.Detail != "node n1 lvstore "+lvs1+": snap-rebuild-00000000 16, head 10, bitmap 1" {
		t.Errorf("replica evidence %+v", rep)
	}
	if store.Expected != "used 14 clusters (total 60 - free 46)" || store.Actual != "lvols own 11 clusters" {
		t.Errorf("lvstore evidence %+v", store)
	}
}
