package kind

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/cluster"
)

// ArmUpgradeCrash runs `refengine kill-engine --during-upgrade` in the node's instance-manager
// pod and returns once it says it is watching; wait blocks until it killed the engine process
// serving the volume (the old one inside the live upgrade's window, else the only one).
func (d *Driver) ArmUpgradeCrash(ctx context.Context, engine, node string, window time.Duration) (func() (cluster.EngineKill, error), error) {
	pod, err := d.nodePod(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("arm upgrade crash of %s: %w", engine, err)
	}
	type result struct {
		k   cluster.EngineKill
		err error
	}
	start := time.Now()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	exited := make(chan error, 1)
	go func() {
		_, err := d.execStream(ctx, pod.Name, "node", killDuringUpgradeCommand(engine, window), pw, &stderr)
		pw.CloseWithError(err)
		exited <- err
	}()
	armed := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		var lines []string
		var at time.Time
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			lines = append(lines, line)
			if strings.HasPrefix(line, "watching engine ") {
				close(armed)
			}
			if _, _, ok := parseKillLine(line); ok {
				at = time.Now()
			}
		}
		execErr := <-exited
		if at.IsZero() {
			at = time.Now()
		}
		k, lost, err := killReport(lines, execErr)
		if lost {
			d.log.Warn("kill-engine exited 0 but its report line was lost: the engine was killed, pid and upgrade window unknown",
				"engine", engine, "pod", pod.Name, "output", lines)
		}
		k.Waited, k.Executor, k.At = at.Sub(start), "exec", at
		if err != nil {
			err = fmt.Errorf("crash engine %s during its upgrade in pod %s: %w: %s", engine, pod.Name, err, strings.TrimSpace(stderr.String()))
		}
		done <- result{k, err}
	}()
	wait := func() (cluster.EngineKill, error) {
		r := <-done
		return r.k, r.err
	}
	select {
	case <-armed:
		return wait, nil
	case r := <-done:
		done <- r
		return wait, nil // it finished (or failed) before saying it watched: wait reports it
	case <-ctx.Done():
		return nil, fmt.Errorf("arm upgrade crash of %s: %w", engine, ctx.Err())
	}
}

// killReport is the kill that kill-engine --during-upgrade reports in its
// output lines, given how its exec ended (execErr). kill-engine exits 0
// only once it has killed the engine, so a clean exit without a "killed
// engine" line is taken as a kill whose report was lost (lost): the tail
// of a container exec's output can go missing when the process exits (a
// CI run on kind lost it in one round of ten), and the pid and whether the
// kill hit the window (InWindow false) are unknown then. A scenario that
// sees no crash follow (seed 002: no remount) crashes the engine again.
func killReport(lines []string, execErr error) (k cluster.EngineKill, lost bool, err error) {
	if execErr != nil {
		return k, false, execErr
	}
	for _, line := range lines {
		if pid, in, ok := parseKillLine(line); ok {
			k.PID, k.InWindow = pid, in
		}
	}
	return k, k.PID == 0, nil
}

// killDuringUpgradeCommand is the exec command line of an armed upgrade crash.
func killDuringUpgradeCommand(engine string, window time.Duration) []string {
	return []string{"/refengine", "kill-engine", "--name", engine, "--during-upgrade", window.String()}
}

var killLine = regexp.MustCompile(`^killed engine \S+ \(pid (\d+)\)(.*)$`)

// parseKillLine reads kill-engine's "killed engine E (pid N) in its upgrade window" line.
func parseKillLine(line string) (pid int, inWindow, ok bool) {
	m := killLine.FindStringSubmatch(line)
	if m == nil {
		return 0, false, false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, false, false
	}
	return pid, strings.Contains(m[2], "in its upgrade window"), true
}
