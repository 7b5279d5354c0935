package manager

import (
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// A disk whose replica starts are refused is kept out of scheduling for
// 1 s, 2 s, 4 s ... up to startBackoffMax, only that disk of that node,
// until a start there succeeds.
func TestStartBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newStartBackoff(func() time.Time { return now })
	nodes := []api.Node{
		{Name: "n1", Status: api.NodeStatus{Disks: []api.Disk{{Name: "d1", LvstoreUUID: "u1"}, {Name: "d2", LvstoreUUID: "u2"}}}},
		{Name: "n2", Status: api.NodeStatus{Disks: []api.Disk{{Name: "d1", LvstoreUUID: "u1"}}}},
	}
	disks := func() map[string]int {
		out := map[string]int{}
		for _, n := range b.schedulable(nodes) {
			out[n.Name] = len(n.Status.Disks)
		}
		return out
	}
	tests := []struct {
		advance time.Duration
		fail    bool
		want    time.Duration // backoff returned by failed
		blocked bool
	}{
		{fail: true, want: time.Second, blocked: true},
		{advance: 999 * time.Millisecond, blocked: true},
		{advance: time.Millisecond, blocked: false},
		{fail: true, want: 2 * time.Second, blocked: true},
		{fail: true, want: 4 * time.Second, blocked: true},
		{advance: 3 * time.Second, blocked: true},
		{advance: time.Second, blocked: false},
	}
	for i, tc := range tests {
		now = now.Add(tc.advance)
		if tc.fail {
			if got := b.failed("n1", "u1"); got != tc.want {
				t.Fatalf("step %d: backoff %v, want %v", i, got, tc.want)
			}
		}
		if got := b.blocked("n1", "u1"); got != tc.blocked {
			t.Fatalf("step %d: blocked %v, want %v", i, got, tc.blocked)
		}
		want := map[string]int{"n1": 2, "n2": 1}
		if tc.blocked {
			want["n1"] = 1
		}
		if got := disks(); got["n1"] != want["n1"] || got["n2"] != want["n2"] {
			t.Fatalf("step %d: schedulable disks %v, want %v", i, got, want)
		}
	}
	if len(nodes[0].Status.Disks) != 2 {
		t.Fatal("schedulable modified the nodes it was given")
	}
	for range 20 {
		b.failed("n1", "u1")
	}
	if got := b.failed("n1", "u1"); got != startBackoffMax {
		t.Errorf("after many refusals: backoff %v, want %v", got, startBackoffMax)
	}
	b.started("n1", "u1")
	if b.blocked("n1", "u1") {
		t.Error("still blocked after a successful start")
	}
}
