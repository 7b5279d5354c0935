package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/timeline"
)

// PauseNode stalls a node without killing it: it sends SIGSTOP to the node
// process's group (the instance manager and the engines it started) and
// returns once every process of the group is stopped. Nothing notices a
// stopped process exit, so the supervisor leaves it alone; the node stops
// answering until ResumeNode.
func (d *Driver) PauseNode(ctx context.Context, name string) error {
	p, err := d.node(name)
	if err != nil {
		return err
	}
	pid, running, _, _, _ := p.snapshot()
	if !running {
		return fmt.Errorf("pause node %s: node is not running", name)
	}
	if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause node %s (process group %d): %w", name, pid, err)
	}
	if err := waitGroupState(ctx, pid, true); err != nil {
		return fmt.Errorf("pause node %s: %w", name, err)
	}
	executed(ctx, "supervisor")
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: name, Name: "paused", Detail: map[string]string{"pid": strconv.Itoa(pid)}})
	return nil
}

// ResumeNode sends SIGCONT to the node's process group and returns once no
// process of it is stopped. Resuming a node that is not paused, or not
// running, does nothing.
func (d *Driver) ResumeNode(ctx context.Context, name string) error {
	p, err := d.node(name)
	if err != nil {
		return err
	}
	pid, running, _, _, _ := p.snapshot()
	if !running {
		return nil
	}
	if err := syscall.Kill(-pid, syscall.SIGCONT); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("resume node %s (process group %d): %w", name, pid, err)
	}
	if err := waitGroupState(ctx, pid, false); err != nil {
		return fmt.Errorf("resume node %s: %w", name, err)
	}
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: name, Name: "resumed", Detail: map[string]string{"pid": strconv.Itoa(pid)}})
	return nil
}

// waitGroupState polls /proc until every live process of group pgid is
// stopped (stopped true) or none is (stopped false), or ctx ends. A
// process in uninterruptible sleep stops only once it wakes, which is why
// a signal's delivery has to be waited for.
func waitGroupState(ctx context.Context, pgid int, stopped bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := groupPending(pgid, stopped)
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			what := "running"
			if !stopped {
				what = "stopped"
			}
			return fmt.Errorf("process %d of group %d still %s: %w", pending, pgid, what, ctx.Err())
		case <-tick.C:
		}
	}
}

// groupPending returns a process of group pgid that is not yet in the
// wanted state (0 when there is none). Zombies and exited processes count
// as done.
func groupPending(pgid int, stopped bool) int {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, group, ok := procStat(pid)
		if !ok || group != pgid || state == 'Z' || state == 'X' {
			continue
		}
		if (state == 'T') != stopped {
			return pid
		}
	}
	return 0
}

// procStat reads a process's state letter and process group from
// /proc/PID/stat.
func procStat(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pgid, err = strconv.Atoi(f[2])
	return f[0][0], pgid, err == nil
}
