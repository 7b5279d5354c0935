package local

import (
	"context"
	"fmt"
	"strconv"
	"syscall"

	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/timeline"
)

// KillEngine crashes one engine instance abruptly: it finds the
// `refengine engine --name ENGINE` process among the cluster's node process
// groups and SIGKILLs it, so no cleanup runs. It returns once the process
// is gone. The node process (the instance manager) stays up.
func (d *Driver) KillEngine(ctx context.Context, engine string) error {
	d.mu.Lock()
	groups := map[int]string{}
	for _, n := range d.nodes {
		if pid, running, _, _, _ := d.procs[n.Name].snapshot(); running {
			groups[pid] = n.Name
		}
	}
	d.mu.Unlock()
	pid, node, err := findEngine(engine, groups)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill engine %s (pid %d on %s): %w", engine, pid, node, err)
	}
	if err := waitGone(ctx, pid); err != nil {
		return fmt.Errorf("kill engine %s: %w", engine, err)
	}
	executed(ctx, "supervisor")
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: node, Name: "engine " + engine + " killed",
		Detail: map[string]string{"pid": strconv.Itoa(pid)}})
	return nil
}

// findEngine finds the engine process named engine whose process group is
// one of groups (pgid → node): engines in other groups belong to another
// cluster on this host.
func findEngine(engine string, groups map[int]string) (int, string, error) {
	pids, err := engineproc.FindProcesses(engine)
	if err != nil {
		return 0, "", err
	}
	for _, pid := range pids {
		pgid, ok := pgidOf(pid)
		if !ok {
			continue
		}
		node, ours := groups[pgid]
		if !ours || pid == pgid || !Alive(pid) {
			continue
		}
		return pid, node, nil
	}
	return 0, "", fmt.Errorf("find engine %s: no such engine process on any running node", engine)
}

func pgidOf(pid int) (int, bool) {
	_, pgid, ok := procStat(pid)
	return pgid, ok
}
