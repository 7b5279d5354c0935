package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/engineproc"
)

// Exit status of kill-engine when no engine of that name runs in this PID
// namespace. The kind driver runs kill-engine in every instance-manager pod
// in turn and reads 3 as "not on this node", any other failure as an error.
const exitNoEngine = 3

// errNoEngine is what killEngine returns when it finds nothing to kill.
var errNoEngine = errors.New("no engine")

// registerKillEngine adds `refengine kill-engine`, the engine-crash fault
// of the Kubernetes deployment: the instance-manager container holds only
// this binary, so the kill a local driver does with a syscall has to be a
// subcommand there.
func registerKillEngine(cmds map[string]subcommand) {
	cmds["kill-engine"] = subcommand{
		summary: "SIGKILL the engine process of one name in this PID namespace (exit 3: none here)",
		run: func(args []string) int {
			return runKillEngine(args, os.Stdout, os.Stderr)
		},
	}
}

func runKillEngine(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refengine kill-engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the engine's name, as given to \"refengine engine --name\" (required)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the killed process to be gone")
	during := fs.Duration("during-upgrade", 0, "watch for up to this long for the engine's live upgrade window and kill inside it (0: kill now)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: refengine kill-engine --name ENGINE [--timeout 10s] [--during-upgrade 5s]

Finds the `+"`refengine engine --name ENGINE`"+` process in this PID namespace
(by its command line in /proc), sends it SIGKILL, so no cleanup runs, and
waits until it is gone (exited and reaped, or a zombie). Prints
"killed engine ENGINE (pid N)". The node that started it stays up.

With --during-upgrade D it first prints "watching engine ENGINE" and
watches /proc every millisecond for up to D for the engine's live upgrade
window: the new engine process started while the old one still serves.
It then kills the old one, the one serving the volume, and says "in its
upgrade window"; when D passes without a window it kills the one process
there is and says "no upgrade window seen".

Exit status: 0 killed; 3 no such engine in this PID namespace; 1 any other
failure (the kill failed, or the process outlived --timeout); 2 bad
arguments.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "refengine kill-engine: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if *name == "" {
		fmt.Fprintln(stderr, "refengine kill-engine: --name is required")
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "refengine kill-engine: --timeout %v: want a positive duration\n", *timeout)
		return 2
	}
	if *during < 0 {
		fmt.Fprintf(stderr, "refengine kill-engine: --during-upgrade %v: want a positive duration, or 0\n", *during)
		return 2
	}
	if *during > 0 {
		return runKillDuringUpgrade(*name, *during, *timeout, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	pids, err := killEngine(ctx, *name)
	for _, pid := range pids {
		fmt.Fprintf(stdout, "killed engine %s (pid %d)\n", *name, pid)
	}
	switch {
	case errors.Is(err, errNoEngine):
		fmt.Fprintf(stderr, "no engine %s in this pid namespace\n", *name)
		return exitNoEngine
	case err != nil:
		fmt.Fprintf(stderr, "refengine kill-engine: %v\n", err)
		return 1
	}
	return 0
}

// runKillDuringUpgrade is kill-engine --during-upgrade.
func runKillDuringUpgrade(name string, window, timeout time.Duration, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "watching engine %s for its live upgrade window (up to %v)\n", name, window)
	wctx, cancel := context.WithTimeout(context.Background(), window)
	pid, inWindow, err := engineproc.AwaitUpgradeWindow(wctx, name, nil)
	cancel()
	if errors.Is(err, engineproc.ErrNoEngineProcess) {
		fmt.Fprintf(stderr, "no engine %s in this pid namespace\n", name)
		return exitNoEngine
	}
	if err != nil {
		fmt.Fprintf(stderr, "refengine kill-engine: %v\n", err)
		return 1
	}
	start, ok := startTime(pid)
	if err := sigkill(pid, name); err != nil || !ok {
		fmt.Fprintf(stderr, "refengine kill-engine: kill engine %s (pid %d): %v\n", name, pid, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := waitExited(ctx, pid, start); err != nil {
		fmt.Fprintf(stderr, "refengine kill-engine: kill engine %s (pid %d): %v\n", name, pid, err)
		return 1
	}
	if inWindow {
		fmt.Fprintf(stdout, "killed engine %s (pid %d) in its upgrade window\n", name, pid)
	} else {
		fmt.Fprintf(stdout, "killed engine %s (pid %d): no upgrade window seen\n", name, pid)
	}
	return 0
}

// killEngine SIGKILLs every process whose command line is an engine named
// name (normally one) and waits until each is gone. It returns the pids it
// killed, and errNoEngine when there was none.
func killEngine(ctx context.Context, name string) ([]int, error) {
	pids, err := engineproc.FindProcesses(name)
	if err != nil {
		return nil, err
	}
	var killed []int
	for _, pid := range pids {
		start, ok := startTime(pid)
		if !ok {
			continue // exited since the scan
		}
		switch err := sigkill(pid, name); {
		case errors.Is(err, os.ErrProcessDone):
			continue
		case err != nil:
			return killed, fmt.Errorf("kill engine %s (pid %d): %w", name, pid, err)
		}
		if err := waitExited(ctx, pid, start); err != nil {
			return killed, fmt.Errorf("kill engine %s (pid %d): %w", name, pid, err)
		}
		killed = append(killed, pid)
	}
	if len(killed) == 0 {
		return nil, errNoEngine
	}
	return killed, nil
}

// sigkill sends SIGKILL to pid if it still is engine name. os.FindProcess
// holds the process by a pidfd where the kernel has them, so once the name
// is checked again after that, the signal cannot reach a process that
// reused the pid. os.ErrProcessDone means it had already exited.
func sigkill(pid int, name string) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	if engineproc.NameOfProcess(pid) != name {
		return os.ErrProcessDone
	}
	return p.Signal(syscall.SIGKILL)
}

// waitExited polls /proc until the process pid that started at start (in
// clock ticks since boot) has exited: its entry is gone, it is a zombie
// its parent has not reaped yet, or the pid now names another process.
func waitExited(ctx context.Context, pid int, start string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if now, ok := startTime(pid); !ok || now != start {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still running after SIGKILL: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// startTime is engineproc.StartTime.
func startTime(pid int) (string, bool) { return engineproc.StartTime(pid) }
