package engineproc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The watch returns the older of two processes of an engine (the one that
// serves while the new one starts) once the second appears, the only one
// when none appears within its deadline, and an error when there is none.
func TestAwaitUpgradeWindow(t *testing.T) {
	old := sleeper(t, "engine", "--name", "upg-e-0")
	// Start times count clock ticks (10 ms): the new process must start
	// in a later tick to be told apart by more than its pid.
	time.Sleep(30 * time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	pid, in, err := AwaitUpgradeWindow(ctx, "upg-e-0", nil)
	cancel()
	if err != nil || pid != old.Process.Pid || in {
		t.Fatalf("one process: %d, %v, %v; want %d outside the window", pid, in, err, old.Process.Pid)
	}

	type result struct {
		pid int
		in  bool
		err error
	}
	done := make(chan result, 1)
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() {
		pid, in, err := AwaitUpgradeWindow(ctx, "upg-e-0", nil)
		done <- result{pid, in, err}
	}()
	time.Sleep(50 * time.Millisecond) // the watch polls meanwhile
	sleeper(t, "engine", "--name", "upg-e-0")
	r := <-done
	if r.err != nil || r.pid != old.Process.Pid || !r.in {
		t.Fatalf("two processes: %d, %v, %v; want the old one %d in the window", r.pid, r.in, r.err, old.Process.Pid)
	}

	ours := func(pid int) bool { return pid != old.Process.Pid }
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if pid, _, err := AwaitUpgradeWindow(ctx, "upg-e-0", ours); err != nil || pid == old.Process.Pid {
		t.Errorf("filtered: %d, %v; want the new process only", pid, err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := AwaitUpgradeWindow(ctx, "upg-missing-e-0", nil); !errors.Is(err, ErrNoEngineProcess) {
		t.Errorf("no process: %v, want ErrNoEngineProcess", err)
	}
}
