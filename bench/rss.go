package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ReadRSS returns the resident set size of process pid in bytes, from the
// VmRSS line of /proc/PID/status.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of process %d: %w", pid, err)
	}
	n, err := ParseVmRSS(string(b))
	if err != nil {
		return 0, fmt.Errorf("rss of process %d: %w", pid, err)
	}
	return n, nil
}

// ParseVmRSS finds the VmRSS line of a /proc/PID/status text
// ("VmRSS:\t  41236 kB") and returns it in bytes.
func ParseVmRSS(status string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse VmRSS %q: want a number of kB", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<43 {
			return 0, fmt.Errorf("parse VmRSS %q: not a size in kB", f[0])
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("parse status: %w", err)
	}
	return 0, errors.New("no VmRSS line (a kernel thread or a process that has exited)")
}
