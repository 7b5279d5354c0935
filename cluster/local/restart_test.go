package local

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/timeline"
)

func TestRestartPolicy(t *testing.T) {
	const ms = time.Millisecond
	type exit struct {
		cause  exitCause
		uptime time.Duration
		want   time.Duration
	}
	for _, tc := range []struct {
		name  string
		exits []exit
	}{
		{"crash loop doubles up to max", []exit{
			{causeCrashed, ms, 200 * ms}, {causeCrashed, ms, 400 * ms}, {causeCrashed, ms, 800 * ms},
			{causeCrashed, ms, 1600 * ms}, {causeCrashed, ms, 3200 * ms}, {causeCrashed, ms, 5 * time.Second},
			{causeCrashed, ms, 5 * time.Second},
		}},
		{"deletions restart at once, however many", []exit{
			{causeDeleted, ms, 0}, {causeDeleted, ms, 0}, {causeDeleted, ms, 0}, {causeDeleted, ms, 0},
			{causeDeleted, ms, 0}, {causeDeleted, ms, 0}, {causeDeleted, ms, 0}, {causeDeleted, ms, 0},
		}},
		{"deletions do not advance the crash backoff", []exit{
			{causeDeleted, ms, 0}, {causeDeleted, ms, 0}, {causeDeleted, ms, 0},
			{causeCrashed, ms, 200 * ms}, {causeDeleted, ms, 0}, {causeCrashed, ms, 400 * ms},
		}},
		{"deletion in a crash loop is not delayed", []exit{
			{causeCrashed, ms, 200 * ms}, {causeCrashed, ms, 400 * ms}, {causeCrashed, ms, 800 * ms},
			{causeCrashed, ms, 1600 * ms}, {causeCrashed, ms, 3200 * ms}, {causeDeleted, ms, 0},
			{causeCrashed, ms, 5 * time.Second},
		}},
		{"long uptime resets the backoff", []exit{
			{causeCrashed, ms, 200 * ms}, {causeCrashed, ms, 400 * ms}, {causeCrashed, ms, 800 * ms},
			{causeCrashed, 51 * time.Second, 200 * ms}, {causeCrashed, ms, 400 * ms},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := restartPolicy{b: backoff{200 * ms, 5 * time.Second}}
			for i, e := range tc.exits {
				if got := p.delay(e.cause, e.uptime); got != e.want {
					t.Errorf("exit %d (%v after %v): delay %v, want %v", i+1, e.cause, e.uptime, got, e.want)
				}
			}
		})
	}
}

// TestDeletionSkipsCrashBackoff runs a node with a crash backoff far longer
// than the test: deleting its instance manager must still bring it back,
// every time, and the supervisor must record that it chose no delay. A
// crash afterwards must get the first, not an advanced, backoff.
func TestDeletionSkipsCrashBackoff(t *testing.T) {
	requireCluster(t)
	const minB, maxB = 10 * time.Minute, 40 * time.Minute
	d, err := New(Config{
		Dir: t.TempDir(), Refengine: refengine, Nodes: 1, DiskSize: 64 << 20,
		MinBackoff: minB, MaxBackoff: maxB, Timeline: timeline.NewRecorder(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := d.Up(ctx); err != nil {
		t.Fatalf("up: %v\n%s", err, allTails(d))
	}
	t.Cleanup(func() { d.Down(context.Background()) })

	const deletions = 4
	for i := range deletions {
		old := nodeStatus(t, d, "node-1").PID
		if err := d.DeleteInstanceManager(ctx, "node-1"); err != nil {
			t.Fatal(err)
		}
		e := waitExit(t, d.Timeline(), "node-1", old)
		if e.Detail["cause"] != "deleted" || e.Detail["restart in"] != "0s" {
			t.Fatalf("deletion %d: supervisor recorded %v, want cause deleted, restart in 0s", i+1, e.Detail)
		}
		// The backoff is minutes long: only an immediate restart
		// makes this deadline.
		eventually(t, fmt.Sprintf("node-1 back after deletion %d", i+1), 30*time.Second, func() bool {
			n := nodeStatus(t, d, "node-1")
			return n.Running && n.Ready && n.PID != old
		})
	}
	if n := nodeStatus(t, d, "node-1"); n.Restarts != deletions {
		t.Errorf("node-1 restarts = %d, want %d", n.Restarts, deletions)
	}

	// A crash (the process dies without DeleteInstanceManager) backs off,
	// starting from the minimum: the deletions did not count.
	pid := nodeStatus(t, d, "node-1").PID
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e := waitExit(t, d.Timeline(), "node-1", pid)
	if e.Detail["cause"] != "crashed" || e.Detail["restart in"] != minB.String() {
		t.Fatalf("crash: supervisor recorded %v, want cause crashed, restart in %v", e.Detail, minB)
	}
	if n := nodeStatus(t, d, "node-1"); n.Running {
		t.Errorf("crashed node-1 restarted without its backoff: %+v", n)
	}
}

// waitExit waits for the supervisor's "exited" event of pid on lane.
func waitExit(t *testing.T, r *timeline.Recorder, lane string, pid int) timeline.Event {
	t.Helper()
	var found timeline.Event
	eventually(t, fmt.Sprintf("exit of %s pid %d on the timeline", lane, pid), 30*time.Second, func() bool {
		for _, e := range r.Events() {
			if e.Lane == lane && e.Name == "exited" && e.Detail["pid"] == fmt.Sprint(pid) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}
