package engineproc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// NameFromCmdline returns the --name of an engine process given its
// argv (as in /proc/PID/cmdline: the executable, then "engine", then
// flags), or "" when args are not an engine's. Engines are found by
// their command line because they are children of a node and nothing
// else records them: the local cluster driver and `refengine kill-engine`
// (run inside a pod) both look for them in /proc. Every spelling the flag
// package accepts is recognised (--name X, --name=X, -name X, -name=X);
// when the flag is given twice the last one wins, as it does for the
// engine itself.
func NameFromCmdline(args []string) string {
	if len(args) < 2 || args[1] != "engine" {
		return ""
	}
	name := ""
	flags := args[2:]
	for i := 0; i < len(flags); i++ {
		a := flags[i]
		if a == "--" {
			break
		}
		switch {
		case (a == "--name" || a == "-name") && i+1 < len(flags):
			name = flags[i+1]
			i++
		case strings.HasPrefix(a, "--name="):
			name = strings.TrimPrefix(a, "--name=")
		case strings.HasPrefix(a, "-name="):
			name = strings.TrimPrefix(a, "-name=")
		}
	}
	return name
}

// NameOfProcess returns the engine name of process pid from its
// /proc/PID/cmdline, or "" when it is no engine, has exited or is a
// zombie (whose cmdline is empty).
func NameOfProcess(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return ""
	}
	return NameFromCmdline(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"))
}

// FindProcesses returns the pids of the engine processes named name that
// this process can see in /proc (its PID namespace), in /proc's order.
// None is not an error; there is normally at most one.
func FindProcesses(name string) ([]int, error) {
	if name == "" {
		return nil, fmt.Errorf("find engine processes: empty name")
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("find engine %s: %w", name, err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if NameOfProcess(pid) == name {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
