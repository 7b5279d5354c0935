package manager

import (
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

func node(name, state string, disks ...api.Disk) api.Node {
	return api.Node{Name: name, Status: api.NodeStatus{State: state, Disks: disks}}
}

func TestScheduleReplicas(t *testing.T) {
	vol := api.Volume{Name: "v", Spec: api.VolumeSpec{Size: 100 * api.MiB}}
	gib := int64(1 << 30)
	onDisk := func(n, d string, size int64) api.Replica {
		return api.Replica{Spec: api.ReplicaSpec{Node: n, Disk: d, Size: size}}
	}
	tests := []struct {
		name    string
		count   int
		nodes   []api.Node
		all     []api.Replica
		exclude []string
		over    int
		want    []string // node/disk
	}{
		{"one per node, by name", 3, []api.Node{
			node("c", api.NodeUp, disk("d", gib)), node("a", api.NodeUp, disk("d", gib)), node("b", api.NodeUp, disk("d", gib)),
		}, nil, nil, 100, []string{"a/d", "b/d", "c/d"}},
		{"down nodes skipped", 3, []api.Node{
			node("a", api.NodeUp, disk("d", gib)), node("b", api.NodeDown, disk("d", gib)),
		}, nil, nil, 100, []string{"a/d"}},
		{"excluded nodes skipped", 2, []api.Node{
			node("a", api.NodeUp, disk("d", gib)), node("b", api.NodeUp, disk("d", gib)),
		}, nil, []string{"a"}, 100, []string{"b/d"}},
		{"disk without lvstore skipped", 1, []api.Node{
			node("a", api.NodeUp, api.Disk{Name: "raw", TotalBytes: gib, FreeBytes: gib}),
		}, nil, nil, 100, nil},
		{"full disk skipped", 1, []api.Node{
			node("a", api.NodeUp, api.Disk{Name: "d", LvstoreUUID: "u", TotalBytes: gib, FreeBytes: 0}),
		}, nil, nil, 100, nil},
		{"scheduled bytes count against the disk", 1, []api.Node{
			node("a", api.NodeUp, disk("d", gib)),
		}, []api.Replica{onDisk("a", "d", gib-50*api.MiB)}, nil, 100, nil},
		{"over-provisioning allows more", 1, []api.Node{
			node("a", api.NodeUp, disk("d", gib)),
		}, []api.Replica{onDisk("a", "d", gib-50*api.MiB)}, nil, 200, []string{"a/d"}},
		{"disk with most room wins", 1, []api.Node{
			node("a", api.NodeUp, disk("small", gib), disk("big", 4*gib)),
		}, nil, nil, 100, []string{"a/big"}},
		{"least loaded node first", 1, []api.Node{
			node("a", api.NodeUp, disk("d", 4*gib)), node("b", api.NodeUp, disk("d", gib)),
		}, []api.Replica{onDisk("a", "d", api.MiB)}, nil, 100, []string{"b/d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := map[string]bool{}
			for _, n := range tt.exclude {
				ex[n] = true
			}
			var got []string
			for _, p := range scheduleReplicas(vol, tt.count, tt.nodes, tt.all, ex, tt.over) {
				got = append(got, p.Node+"/"+p.Disk.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("placed %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSalvageCandidates(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rep := func(name, node string, failed time.Duration, rev uint64) api.Replica {
		r := api.Replica{Name: name, Spec: api.ReplicaSpec{Node: node}, Status: api.ReplicaStatus{HealthyAt: t0, Revision: rev}}
		if failed >= 0 {
			r.Status.FailedAt = t0.Add(failed)
		}
		return r
	}
	events := func(r api.Replica, n uint64) api.Replica { r.Status.IntentEvents = n; return r }
	restarted := func(r api.Replica) api.Replica { r.Status.RestartedAt = r.Status.FailedAt.Add(time.Second); return r }
	neverHealthy := rep("nh", "n1", 10*time.Second, 9)
	neverHealthy.Status.HealthyAt = time.Time{}
	deleting := rep("del", "n1", 10*time.Second, 9)
	deleting.Spec.Deleting = true
	up := func(n string) bool { return n != "down" }
	tests := []struct {
		name string
		reps []api.Replica
		want []string
	}{
		{"newest revision wins", []api.Replica{rep("a", "n1", 0, 5), rep("b", "n2", time.Second, 7), rep("c", "n3", 2*time.Second, 7)}, []string{"b", "c"}},
		{"failed long before the last failure is left out", []api.Replica{rep("old", "n1", 0, 9), rep("new", "n2", 2*time.Minute, 3)}, []string{"new"}},
		{"within the window counts", []api.Replica{rep("a", "n1", 0, 4), rep("b", "n2", time.Minute, 4)}, []string{"a", "b"}},
		{"down node left out", []api.Replica{rep("a", "down", 10*time.Second, 9), rep("b", "n2", 0, 1)}, []string{"b"}},
		{"never healthy and deleting left out", []api.Replica{neverHealthy, deleting, rep("b", "n2", 0, 1)}, []string{"b"}},
		{"first attach: never-healthy replicas are candidates", []api.Replica{neverHealthy}, []string{"nh"}},
		{"healthy replicas are not candidates", []api.Replica{rep("ok", "n1", -1, 9)}, nil},
		// The stale replica failed first; the others crashed before the
		// node's revision poll raised theirs, but the engine had raised
		// their bitmaps' event count before acknowledging what it lacks.
		{"event count beats an equal revision", []api.Replica{events(rep("stale", "n1", 0, 4), 2), events(rep("b", "n2", 100*time.Millisecond, 4), 3), events(rep("c", "n3", 100*time.Millisecond, 4), 3)}, []string{"b", "c"}},
		{"event count beats a higher revision", []api.Replica{events(rep("a", "n1", 0, 9), 2), events(rep("b", "n2", 0, 4), 3)}, []string{"b"}},
		// The stale replica was restarted in place and was being rebuilt
		// (WO) when the others crashed; the counts last read tie (seen
		// under load in salvage-stale-replica-not-chosen).
		{"restarted and not rebuilt loses a tie", []api.Replica{events(restarted(rep("stale", "n1", 0, 4)), 3), events(rep("b", "n2", 10*time.Second, 4), 3), events(rep("c", "n3", 10*time.Second, 4), 3)}, []string{"b", "c"}},
		{"restarted and not rebuilt loses to lower counts", []api.Replica{events(restarted(rep("stale", "n1", 0, 9)), 5), events(rep("b", "n2", 10*time.Second, 4), 3)}, []string{"b"}},
		{"restarted replicas alone: the counts decide", []api.Replica{events(restarted(rep("a", "n1", 0, 4)), 2), events(restarted(rep("b", "n2", 0, 4)), 3)}, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range salvageCandidates(tt.reps, up) {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("salvaged %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDisksChanged(t *testing.T) {
	base := []api.Disk{{Name: "d", LvstoreUUID: "u", LvstoreName: "d", TotalBytes: 64 << 20, FreeBytes: 32 << 20}}
	with := func(f func(d *api.Disk)) []api.Disk {
		d := base[0]
		f(&d)
		return []api.Disk{d}
	}
	tests := []struct {
		name string
		cur  []api.Disk
		want bool
	}{
		{"same", with(func(d *api.Disk) {}), false},
		{"small free drift", with(func(d *api.Disk) { d.FreeBytes -= 512 << 10 }), false},
		{"large free change", with(func(d *api.Disk) { d.FreeBytes -= 2 << 20 }), true},
		{"new lvstore", with(func(d *api.Disk) { d.LvstoreUUID = "v" }), true},
		{"resized", with(func(d *api.Disk) { d.TotalBytes *= 2 }), true},
		{"disk added", append(with(func(d *api.Disk) {}), api.Disk{Name: "e"}), true},
		{"disk removed", nil, true},
	}
	for _, tt := range tests {
		if got := disksChanged(base, tt.cur); got != tt.want {
			t.Errorf("%s: disksChanged = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRobustness(t *testing.T) {
	tests := []struct {
		rw, wanted int
		want       string
	}{
		{3, 3, api.RobustnessHealthy},
		{4, 3, api.RobustnessHealthy},
		{2, 3, api.RobustnessDegraded},
		{1, 3, api.RobustnessDegraded},
		{0, 3, api.RobustnessFaulted},
		{1, 1, api.RobustnessHealthy},
	}
	for _, tt := range tests {
		if got := robustness(tt.rw, tt.wanted); got != tt.want {
			t.Errorf("robustness(%d, %d) = %s, want %s", tt.rw, tt.wanted, got, tt.want)
		}
	}
}

func TestWorkQueueDedupesAndRequeues(t *testing.T) {
	q := newWorkQueue()
	q.Add("a")
	q.Add("b")
	q.Add("a") // waiting already: no duplicate
	k, ok := q.Get()
	if !ok || k != "a" {
		t.Fatalf("Get = %q, %v; want a", k, ok)
	}
	q.Add("a") // while processing: must run again after Done
	k, _ = q.Get()
	if k != "b" {
		t.Fatalf("Get = %q, want b (a is being processed)", k)
	}
	q.Done("b")
	q.Done("a")
	k, _ = q.Get()
	if k != "a" {
		t.Fatalf("Get = %q, want a again", k)
	}
	q.Done("a")
	done := make(chan bool)
	go func() {
		_, ok := q.Get()
		done <- ok
	}()
	q.ShutDown()
	if <-done {
		t.Fatal("Get after ShutDown returned a key")
	}
}

func TestWorkQueueAddAfterKeepsOneTimer(t *testing.T) {
	q := newWorkQueue()
	defer q.ShutDown()
	for range 50 {
		q.AddAfter("k", time.Hour)
	}
	q.AddAfter("k", time.Millisecond) // earlier: replaces the pending one
	q.AddAfter("k", time.Hour)        // later than pending: ignored
	k, ok := q.Get()
	if !ok || k != "k" {
		t.Fatalf("Get = %q, %v", k, ok)
	}
	q.Done("k")
	q.mu.Lock()
	pending := len(q.later)
	q.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d delayed adds still pending, want 0", pending)
	}
}

func TestBackoffIsBounded(t *testing.T) {
	prev := time.Duration(0)
	for i := 1; i < 20; i++ {
		d := backoff(i)
		if d < prev || d > maxBackoff {
			t.Fatalf("backoff(%d) = %s after %s", i, d, prev)
		}
		prev = d
	}
}
