package integrity

import (
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

func TestNoOrphans(t *testing.T) {
	const (
		rebuildA = rA + "-snap-rebuild-x1y2z3w4"
		rebuildB = rB + "-snap-rebuild-x1y2z3w4"
		biLvol1  = "bi-img-disk-" + lvs1
		long     = "v-r-aaaaaaaa-r-12345678" // a replica of volume "v-r-aaaaaaaa"
	)
	// chained puts snapshot s under rA's head on n1.
	chained := func(s Lvol) change {
		return func(in *Inventory) {
			add("n1", s)(in)
			replace("n1", lv(rA, lvs1, 10, s.Name))(in)
		}
	}
	tests := []struct {
		name    string
		changes []change
		want    checkers.Outcome
		orphans map[string]string // name → part of its reason
		owned   map[string]string // name → part of the note of an owned lvol
	}{
		{name: "clean", want: checkers.Pass},
		{name: "bitmaps are optional", changes: []change{func(in *Inventory) {
			for i := range in.Nodes {
				in.Nodes[i].Lvols = in.Nodes[i].Lvols[:1]
			}
		}}, want: checkers.Pass},

		// Rule 1: heads.
		{name: "head that is a snapshot", changes: []change{replace("n1", snap(rA, lvs1, 10, ""))},
			want: checkers.Fail, orphans: map[string]string{rA: "is a snapshot"}},

		// Rules 3 and 7: snapshots and chains.
		{name: "user snapshot ready, in the chain", changes: []change{userSnapshot("s1", api.SnapshotReady),
			chained(snap(rA+"-snap-s1", lvs1, 5, ""))}, want: checkers.Pass},
		{name: "user snapshot creating, not yet in the chain", changes: []change{userSnapshot("s1", api.SnapshotCreating),
			add("n1", snap(rA+"-snap-s1", lvs1, 5, ""))}, want: checkers.Pass},
		{name: "snapshot in error, outside any chain", changes: []change{userSnapshot("s1", api.SnapshotError),
			add("n1", snap(rA+"-snap-s1", lvs1, 5, ""))},
			want: checkers.Fail, orphans: map[string]string{rA + "-snap-s1": `snapshot "s1" of volume v is in state "error"`}},
		{name: "snapshot unknown to the manager", changes: []change{add("n2", snap(rB+"-snap-gone", lvs2, 3, ""))},
			want: checkers.Fail, orphans: map[string]string{rB + "-snap-gone": `no snapshot "gone" of volume v known`}},
		{name: "snapshot unknown to the manager but in a live chain is data", changes: []change{chained(snap(rA+"-snap-gone", lvs1, 3, ""))},
			want: checkers.Pass, owned: map[string]string{rA + "-snap-gone": "in the chain of head " + rA}},
		{name: "any lvol deep in a live chain is data", changes: []change{
			chained(snap(rA+"-snap-s2", lvs1, 3, "oddname")), add("n1", snap("oddname", lvs1, 1, ""))},
			want: checkers.Pass, owned: map[string]string{rA + "-snap-s2": "in the chain", "oddname": "in the chain of head " + rA}},
		{name: "rebuild snapshots while the volume rebuilds", changes: []change{replica(rB, mode(api.ModeWO)),
			chained(snap(rebuildA, lvs1, 4, "")), add("n2", snap(rebuildB, lvs2, 4, ""))}, want: checkers.Pass},
		{name: "rebuild snapshots after the rebuild, in a chain or not", changes: []change{
			chained(snap(rebuildA, lvs1, 4, "")), add("n2", snap(rebuildB, lvs2, 4, ""))},
			want: checkers.Fail, orphans: map[string]string{
				rebuildA: "system snapshot left after rebuild: volume v is not rebuilding (in the chain of " + rA + ": the purge",
				rebuildB: "system snapshot left after rebuild"}},
		{name: "another volume's rebuild does not excuse this one's", changes: []change{
			func(in *Inventory) {
				in.Replicas = append(in.Replicas, api.Replica{Name: "w-r-cccccccc", Spec: api.ReplicaSpec{Volume: "w", Node: "n2"},
					Status: api.ReplicaStatus{Mode: api.ModeWO}})
			},
			add("n2", snap(rebuildB, lvs2, 4, ""))},
			want: checkers.Fail, orphans: map[string]string{rebuildB: "volume v is not rebuilding"}},

		// Rule 4: rebuilding lvols.
		{name: "rebuilding lvol of a WO replica", changes: []change{replica(rB, mode(api.ModeWO)), add("n2", lv(rB+"-rebuilding", lvs2, 2, ""))},
			want: checkers.Pass},
		{name: "rebuilding lvol of an RW replica", changes: []change{add("n2", lv(rB+"-rebuilding", lvs2, 2, ""))},
			want: checkers.Fail, orphans: map[string]string{rB + "-rebuilding": `rebuilding lvol but ` + rB + ` is not rebuilding (mode "RW")`}},
		{name: "rebuilding lvol of an RW replica while another one rebuilds", changes: []change{replica(rA, mode(api.ModeWO)),
			add("n2", lv(rB+"-rebuilding", lvs2, 2, ""))},
			want: checkers.Fail, orphans: map[string]string{rB + "-rebuilding": "not rebuilding"}},

		// Rule 5: backing images.
		{name: "backing image copy", changes: []change{image("img"), chained(snap(biLvol1, lvs1, 8, ""))}, want: checkers.Pass},
		{name: "backing image copy not in use", changes: []change{image("img"), add("n1", snap(biLvol1, lvs1, 8, ""))}, want: checkers.Pass},
		{name: "copy of an unknown backing image", changes: []change{add("n1", snap(biLvol1, lvs1, 8, ""))},
			want: checkers.Fail, orphans: map[string]string{biLvol1: `no backing image "img" known`}},
		{name: "copy of a backing image on the wrong lvstore", changes: []change{image("img"), add("n1", snap(biLvol1, lvs3, 8, ""))},
			want: checkers.Fail, orphans: map[string]string{biLvol1: "for lvstore " + lvs1 + " sits on lvstore " + lvs3}},
		{name: "backing image copy that is not a snapshot", changes: []change{image("img"), add("n1", lv(biLvol1, lvs1, 8, ""))},
			want: checkers.Fail, orphans: map[string]string{biLvol1: "is not a snapshot"}},
		{name: "backing image temporary lvol", changes: []change{image("img"), add("n1", lv("bi-img-tmp", lvs1, 8, ""))},
			want: checkers.Fail, orphans: map[string]string{"bi-img-tmp": "not named after"}},

		// Placement and unknown replicas.
		{name: "lvols of a replica unknown to the manager", changes: []change{
			add("n1", lv("v-r-zzzzzzzz", lvs1, 6, "v-r-zzzzzzzz-snap-rebuild-00000000"), snap("v-r-zzzzzzzz-snap-rebuild-00000000", lvs1, 6, ""))},
			want: checkers.Fail, orphans: map[string]string{
				"v-r-zzzzzzzz":                       "no replica v-r-zzzzzzzz known to the manager",
				"v-r-zzzzzzzz-snap-rebuild-00000000": "no replica v-r-zzzzzzzz known to the manager"}},
		{name: "junk", changes: []change{add("n2", lv("junk", lvs2, 0, ""))},
			want: checkers.Fail, orphans: map[string]string{"junk": "not named after a replica"}},
		{name: "a known name followed by more letters is another replica", changes: []change{add("n1", lv(rA+"2", lvs1, 1, ""))},
			want: checkers.Fail, orphans: map[string]string{rA + "2": "not named after"}},
		{name: "head on another node than the manager placed it", changes: []change{add("n2", lv(rA, lvs2, 1, ""))},
			want: checkers.Fail, orphans: map[string]string{rA: "placed on node n1"}},
		{name: "head on another disk of the right node", changes: []change{add("n1", lv(rA+"-bitmap", lvs3, 1, ""))},
			want: checkers.Fail, orphans: map[string]string{rA + "-bitmap": `lvstore "` + lvs1 + `"`}},
		{name: "replica without a disk uuid matches any lvstore of its node", changes: []change{
			replica(rA, func(r *api.Replica) { r.Spec.DiskUUID = "" }), add("n1", lv(rA+"-bitmap", lvs3, 1, ""))},
			want: checkers.Pass},
		{name: "suffix refengine never makes", changes: []change{add("n1", lv(rA+"-copy", lvs1, 1, ""))},
			want: checkers.Fail, orphans: map[string]string{rA + "-copy": "suffix refengine never makes"}},
		{name: "longest known replica name wins", changes: []change{
			func(in *Inventory) {
				in.Replicas = append(in.Replicas, api.Replica{Name: long, Spec: api.ReplicaSpec{Volume: "v-r-aaaaaaaa", Node: "n2", DiskUUID: lvs2}})
			},
			add("n2", lv(long, lvs2, 2, ""), lv(long+"-bitmap", lvs2, 1, ""))},
			want: checkers.Pass},
		{name: "longest known replica name wins, and is misplaced", changes: []change{
			func(in *Inventory) {
				in.Replicas = append(in.Replicas, api.Replica{Name: long, Spec: api.ReplicaSpec{Volume: "v-r-aaaaaaaa", Node: "n2", DiskUUID: lvs2}})
			},
			add("n1", lv(long+"-bitmap", lvs1, 1, ""))},
			want: checkers.Fail, orphans: map[string]string{long + "-bitmap": "lvol of replica " + long + ", which the manager placed on node n2"}},

		// Rule 6: deletion in progress.
		{name: "leftovers of a replica being deleted", changes: []change{
			replica(rB, func(r *api.Replica) { r.Spec.Deleting = true }),
			add("n2", lv(rB+"-rebuilding", lvs2, 2, ""), snap(rB+"-snap-rebuild-00000000", lvs2, 2, ""))},
			want: checkers.Pass, owned: map[string]string{
				rB: "being deleted", rB + "-bitmap": "being deleted", rB + "-rebuilding": "being deleted", rB + "-snap-rebuild-00000000": "being deleted"}},

		// Nodes that cannot be read.
		{name: "node not read", changes: []change{nodeErr("n2")}, want: checkers.Unknown},
		{name: "node not read, orphan elsewhere", changes: []change{nodeErr("n2"), add("n1", lv("junk", lvs1, 0, ""))},
			want: checkers.Fail, orphans: map[string]string{"junk": "not named after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NoOrphans(build(tt.changes...))
			want(t, v, NameNoOrphans, tt.want)
			orphans, owned := map[string]string{}, map[string]string{}
			for _, e := range v.Evidence {
				if name, ok := strings.CutPrefix(e.What, "orphan "); ok {
					orphans[name] = e.Detail
				}
				if name, ok := strings.CutPrefix(e.What, "owned "); ok {
					owned[name] = e.Detail
				}
			}
			matches(t, "orphans", orphans, tt.orphans, v)
			matches(t, "owned with a note", owned, tt.owned, v)
			for name := range tt.orphans {
				if !strings.Contains(v.Summary, name) {
					t.Errorf("summary %q does not name orphan %s", v.Summary, name)
				}
			}
		})
	}
}

// matches checks that got has exactly the keys of want and that each
// detail contains the wanted part.
func matches(t *testing.T, what string, got, want map[string]string, v checkers.Verdict) {
	t.Helper()
	var gotNames, wantNames []string
	for n := range got {
		gotNames = append(gotNames, n)
	}
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Fatalf("%s %v, want %v\n%s", what, gotNames, wantNames, evidenceText(v))
	}
	for n, part := range want {
		if !strings.Contains(got[n], part) {
			t.Errorf("%s %s: detail %q lacks %q", what, n, got[n], part)
		}
	}
}

// TestNoOrphansEvidence checks what an orphan's evidence tells a reader:
// node, lvstore and allocated space.
func TestNoOrphansEvidence(t *testing.T) {
	v := NoOrphans(build(add("n2", lv("junk", lvs2, 3, ""))))
	want(t, v, NameNoOrphans, checkers.Fail, "1 orphan lvol(s) holding 3 MiB: junk")
	if d := v.Evidence[0].Detail; !strings.HasPrefix(d, "node n2 lvstore lvs ("+lvs2+"), 3 MiB allocated: ") {
		t.Fatalf("evidence detail %q", d)
	}
	many := build(add("n2", lv("j1", lvs2, 0, ""), lv("j2", lvs2, 0, ""), lv("j3", lvs2, 0, ""),
		lv("j4", lvs2, 0, ""), lv("j5", lvs2, 0, ""), lv("j6", lvs2, 0, "")))
	want(t, NoOrphans(many), NameNoOrphans, checkers.Fail, "6 orphan lvol(s) holding 0 MiB: j1, j2, j3, j4, j5 and 1 more")
}
