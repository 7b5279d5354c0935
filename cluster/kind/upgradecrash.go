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
		var k cluster.EngineKill
		var lines []string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			lines = append(lines, line)
			if strings.HasPrefix(line, "watching engine ") {
				close(armed)
			}
			if pid, in, ok := parseKillLine(line); ok {
				k = cluster.EngineKill{PID: pid, InWindow: in, Waited: time.Since(start), Executor: "exec", At: time.Now()}
			}
		}
		err := <-exited
		if err == nil && k.PID == 0 {
			err = fmt.Errorf("no kill reported: %q", lines)
		}
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
