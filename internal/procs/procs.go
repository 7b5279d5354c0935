// Package procs runs a daemon (a refengine manager, node or engine) for a
// test: its stderr is kept for failure messages, and the caller waits for
// the log line that says the daemon is ready instead of sleeping.
package procs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sync"
	"time"
)

// Proc is one started process.
type Proc struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	ready   chan string
	readyRE *regexp.Regexp

	mu  sync.Mutex
	log bytes.Buffer
}

// Start starts cmd with its stderr read line by line into the log. The
// first line that matches ready is reported by Ready, as its first
// submatch (the whole line when the expression has no group).
func Start(cmd *exec.Cmd, ready *regexp.Regexp) (*Proc, error) {
	return start(cmd, ready, "")
}

func start(cmd *exec.Cmd, ready *regexp.Regexp, log string) (*Proc, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{}), ready: make(chan string, 1), readyRE: ready}
	p.log.WriteString(log)
	go p.read(stderr, ready)
	return p, nil
}

// Restart kills the process if it still runs and starts the same command
// line again (same directory, environment and attributes). The new Proc's
// log begins with the old one's, so a failure message shows every run.
func (p *Proc) Restart() (*Proc, error) {
	p.Kill()
	old := p.cmd
	cmd := exec.Command(old.Path, old.Args[1:]...)
	cmd.Dir, cmd.Env, cmd.SysProcAttr = old.Dir, old.Env, old.SysProcAttr
	return start(cmd, p.readyRE, p.Log())
}

func (p *Proc) read(stderr io.Reader, ready *regexp.Regexp) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.log.WriteString(line + "\n")
		p.mu.Unlock()
		if m := ready.FindStringSubmatch(line); m != nil {
			select {
			case p.ready <- m[len(m)-1]:
			default:
			}
		}
	}
	// A line too long for the scanner stops it: drain the rest so the
	// process never blocks writing to a full pipe.
	io.Copy(io.Discard, stderr)
	p.cmd.Wait()
	close(p.exited)
}

// ErrExited says the process ended before it logged its ready line.
var ErrExited = errors.New("exited before it was ready")

// Ready waits up to timeout for the ready line and returns its submatch.
func (p *Proc) Ready(timeout time.Duration) (string, error) {
	select {
	case v := <-p.ready:
		return v, nil
	case <-p.exited:
		// The ready line may have come just before the end.
		select {
		case v := <-p.ready:
			return v, nil
		default:
			return "", ErrExited
		}
	case <-time.After(timeout):
		return "", fmt.Errorf("not ready after %v", timeout)
	}
}

// Log returns what the process has written to stderr so far.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Exited is closed once the process has ended and its stderr is read.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Cmd is the running command, for its pid, signals and, once Exited is
// closed, its exit state.
func (p *Proc) Cmd() *exec.Cmd { return p.cmd }

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}
