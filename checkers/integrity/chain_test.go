package integrity

import (
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

func TestChainsMatch(t *testing.T) {
	// snapshots s1 then s2 in the manager, created in that order.
	snapshots := func(in *Inventory) {
		for i, n := range []string{"s1", "s2"} {
			in.Snapshots = append(in.Snapshots, api.Snapshot{Name: "v-s-" + n, Spec: api.SnapshotSpec{Volume: "v", SnapshotName: n},
				Status: api.SnapshotStatus{State: api.SnapshotReady, CreatedAt: time.Unix(int64(100+i), 0)}})
		}
	}
	onImage := func(in *Inventory) { in.Volumes[0].Spec.BackingImage = "img" }
	biA := "bi-img-disk-" + lvs1
	tests := []struct {
		name    string
		changes []change
		want    checkers.Outcome
	}{
		{name: "head only", want: checkers.Pass},
		{name: "two snapshots under the head", changes: []change{snapshots,
			add("n1", snap(rA+"-snap-s1", lvs1, 1, ""), snap(rA+"-snap-s2", lvs1, 1, rA+"-snap-s1")), replace("n1", lv(rA, lvs1, 10, rA+"-snap-s2")),
			add("n2", snap(rB+"-snap-s1", lvs2, 1, ""), snap(rB+"-snap-s2", lvs2, 1, rB+"-snap-s1")), replace("n2", lv(rB, lvs2, 10, rB+"-snap-s2"))},
			want: checkers.Pass},
		{name: "head recreated without its snapshots", changes: []change{snapshots,
			add("n1", snap(rA+"-snap-s1", lvs1, 1, ""), snap(rA+"-snap-s2", lvs1, 1, rA+"-snap-s1")),
			add("n2", snap(rB+"-snap-s1", lvs2, 1, ""), snap(rB+"-snap-s2", lvs2, 1, rB+"-snap-s1")), replace("n2", lv(rB, lvs2, 10, rB+"-snap-s2"))},
			want: checkers.Fail},
		{name: "snapshots in the wrong order", changes: []change{snapshots,
			add("n1", snap(rA+"-snap-s2", lvs1, 1, ""), snap(rA+"-snap-s1", lvs1, 1, rA+"-snap-s2")), replace("n1", lv(rA, lvs1, 10, rA+"-snap-s1")),
			add("n2", snap(rB+"-snap-s1", lvs2, 1, ""), snap(rB+"-snap-s2", lvs2, 1, rB+"-snap-s1")), replace("n2", lv(rB, lvs2, 10, rB+"-snap-s2"))},
			want: checkers.Fail},
		{name: "head on the disk's backing image, rebuild snapshot skipped", changes: []change{onImage, replica(rB, mode(api.ModeWO)),
			add("n1", snap(biA, lvs1, 16, ""), snap(rA+"-snap-rebuild-x1y2z3w4", lvs1, 1, biA)), replace("n1", lv(rA, lvs1, 10, rA+"-snap-rebuild-x1y2z3w4"))},
			want: checkers.Pass},
		{name: "head lost its backing image", changes: []change{onImage, replica(rB, mode(api.ModeWO)), add("n1", snap(biA, lvs1, 16, ""))},
			want: checkers.Fail},
		{name: "node unreadable", changes: []change{nodeErr("n2")}, want: checkers.Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := ChainsMatch(build(tc.changes...), "v")
			if v.Outcome != tc.want {
				t.Errorf("ChainsMatch = %s (%s, %+v), want %s", v.Outcome, v.Summary, v.Evidence, tc.want)
			}
		})
	}
}
