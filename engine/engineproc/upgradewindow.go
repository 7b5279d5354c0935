package engineproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoEngineProcess is returned when no process of the engine runs.
var ErrNoEngineProcess = errors.New("no engine process")

// AwaitUpgradeWindow watches the processes of engine name for its live
// upgrade's window: the node has started the new engine process while the
// old one still serves (it serves until the frontend switches, then it is
// stopped). It polls /proc every millisecond until it sees two processes
// and returns the older one, the process serving the volume, with
// inWindow true. When ctx ends first it returns the oldest process there
// is with inWindow false: the upgrade ended (or never began) unseen. ours
// filters the processes (a local cluster keeps to its own nodes); nil
// accepts every one.
func AwaitUpgradeWindow(ctx context.Context, name string, ours func(pid int) bool) (pid int, inWindow bool, err error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		procs, err := engineProcs(name, ours)
		if err != nil {
			return 0, false, err
		}
		if len(procs) >= 2 {
			return procs[0].pid, true, nil
		}
		select {
		case <-ctx.Done():
			if len(procs) == 0 {
				return 0, false, fmt.Errorf("engine %s: %w", name, ErrNoEngineProcess)
			}
			return procs[0].pid, false, nil
		case <-tick.C:
		}
	}
}

type engineProc struct {
	pid   int
	start uint64
}

// engineProcs lists the live processes of engine name, oldest first.
func engineProcs(name string, ours func(int) bool) ([]engineProc, error) {
	pids, err := FindProcesses(name)
	if err != nil {
		return nil, err
	}
	var out []engineProc
	for _, pid := range pids {
		if ours != nil && !ours(pid) {
			continue
		}
		s, ok := StartTime(pid)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, engineProc{pid, n})
	}
	slices.SortFunc(out, func(a, b engineProc) int {
		if a.start != b.start {
			if a.start < b.start {
				return -1
			}
			return 1
		}
		return a.pid - b.pid
	})
	return out, nil
}

// StartTime returns field 22 of /proc/PID/stat (when the process started,
// in clock ticks since boot), which tells a process from a later one with
// the same pid. ok is false when there is no such process or it is a
// zombie (or dead).
func StartTime(pid int) (start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The command name in parentheses may hold spaces and parentheses;
	// the fields after the last ')' start with the state (field 3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return "", false
	}
	return f[19], true
}
