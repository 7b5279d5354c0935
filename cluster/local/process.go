package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/faultline/faultline/timeline"
)

// process is one supervised OS process (the manager or a node). Its
// supervision loop restarts it when it exits, as a DaemonSet would, until it
// is stopped on purpose.
type process struct {
	name    string
	keep    bool // no Pdeathsig: the process may outlive faultline
	args    []string
	env     []string
	logPath string
	ready   func(ctx context.Context) error

	mu        sync.Mutex
	cur       *incarnation
	stopped   bool
	restarts  int
	cancel    context.CancelFunc
	loopDone  chan struct{}
	onStarted func() // called (without mu) after each start, to persist the pid
}

// incarnation is one run of the process.
type incarnation struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	done    chan struct{} // closed when the process has exited and been reaped
	err     error         // exit status, valid after done
	deleted bool          // killed by DeleteInstanceManager; guarded by process.mu
}

func (inc *incarnation) exited() bool {
	select {
	case <-inc.done:
		return true
	default:
		return false
	}
}

// spawn starts one incarnation in its own process group, so that killing the
// group also kills anything the process started (engine instances).
func (p *process) spawn(bin string) (*incarnation, error) {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", p.name, err)
	}
	cmd := exec.Command(bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !p.keep {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	fmt.Fprintf(logf, "=== faultline: starting %s at %s: %s %q\n", p.name, time.Now().UTC().Format(time.RFC3339Nano), bin, p.args)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	inc := &incarnation{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	go func() {
		inc.err = cmd.Wait()
		fmt.Fprintf(logf, "=== faultline: %s (pid %d) exited: %v\n", p.name, inc.pid, exitText(inc.err))
		logf.Close()
		close(inc.done)
	}()
	return inc, nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// supervise runs p until ctx ends or p is stopped, restarting it when it
// exits as restartPolicy decides: at once after a deletion, with backoff
// after a crash. Each exit (with its cause and the chosen delay) and each
// restart goes on the timeline.
func (p *process) supervise(ctx context.Context, bin string, b backoff, rec *timeline.Recorder, first chan<- error) {
	defer close(p.loopDone)
	policy := restartPolicy{b: b}
	cause := causeCrashed
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		if ctx.Err() != nil || p.stopped {
			p.mu.Unlock()
			return
		}
		inc, err := p.spawn(bin)
		if err == nil {
			p.cur = inc
			if attempt > 0 {
				p.restarts++
			}
		}
		p.mu.Unlock()
		if first != nil {
			first <- err
			first = nil
		}
		var wait time.Duration
		if err == nil {
			if attempt > 0 {
				rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: p.name, Name: "restarted",
					Detail: map[string]string{"pid": strconv.Itoa(inc.pid), "attempt": strconv.Itoa(attempt), "after": cause.String()}})
			}
			if p.onStarted != nil {
				p.onStarted()
			}
			<-inc.done
			p.mu.Lock()
			stopped := p.stopped
			cause = causeCrashed
			if inc.deleted {
				cause = causeDeleted
			}
			p.mu.Unlock()
			if stopped || ctx.Err() != nil {
				return
			}
			wait = policy.delay(cause, time.Since(inc.started))
			rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: p.name, Name: "exited",
				Detail: map[string]string{"pid": strconv.Itoa(inc.pid), "status": exitText(inc.err),
					"cause": cause.String(), "restart in": wait.String()}})
		} else {
			cause = causeCrashed
			wait = policy.delay(cause, 0)
			rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: p.name, Name: "start failed",
				Detail: map[string]string{"error": err.Error(), "restart in": wait.String()}})
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// start begins supervising p and returns once the first incarnation has
// been spawned (not yet ready).
func (p *process) start(parent context.Context, bin string, b backoff, rec *timeline.Recorder) error {
	ctx, cancel := context.WithCancel(parent)
	first := make(chan error, 1)
	p.mu.Lock()
	p.stopped = false
	p.cancel = cancel
	p.loopDone = make(chan struct{})
	p.mu.Unlock()
	go p.supervise(ctx, bin, b, rec, first)
	if err := <-first; err != nil {
		p.halt(context.Background(), syscall.SIGKILL)
		return err
	}
	return nil
}

// halt stops supervising p, signals its process group and waits until the
// process has exited and the supervision loop has returned. With SIGTERM it
// escalates to SIGKILL when the process outlives the grace period or ctx.
func (p *process) halt(ctx context.Context, sig syscall.Signal) error {
	p.mu.Lock()
	p.stopped = true
	cancel, cur, loopDone := p.cancel, p.cur, p.loopDone
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if cur != nil && !cur.exited() {
		killGroup(cur.pid, sig)
		if sig != syscall.SIGKILL {
			// A paused (SIGSTOPped) process acts on SIGTERM only once
			// continued.
			killGroup(cur.pid, syscall.SIGCONT)
			grace := time.NewTimer(5 * time.Second)
			select {
			case <-cur.done:
			case <-grace.C:
			case <-ctx.Done():
			}
			grace.Stop()
		}
		killGroup(cur.pid, syscall.SIGKILL)
		<-cur.done
	}
	if cur != nil {
		// The group may hold children of the process that outlived it.
		killGroup(cur.pid, syscall.SIGKILL)
	}
	if loopDone != nil {
		<-loopDone
	}
	return nil
}

// kill deletes the current incarnation: it kills its process group without
// stopping supervision, marking it deleted so that the supervisor replaces
// it at once instead of backing off, and waits until the process is gone.
func (p *process) kill(ctx context.Context) error {
	p.mu.Lock()
	cur, stopped := p.cur, p.stopped
	if stopped {
		p.mu.Unlock()
		return fmt.Errorf("%s is stopped", p.name)
	}
	if cur == nil || cur.exited() {
		p.mu.Unlock()
		return fmt.Errorf("%s is not running (restarting)", p.name)
	}
	cur.deleted = true
	p.mu.Unlock()
	killGroup(cur.pid, syscall.SIGKILL)
	select {
	case <-cur.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for %s (pid %d) to exit: %w", p.name, cur.pid, ctx.Err())
	}
}

func killGroup(pid int, sig syscall.Signal) {
	if pid <= 0 {
		return
	}
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		syscall.Kill(pid, sig)
	}
}

// snapshot returns pid, running, stopped, restarts and start time.
func (p *process) snapshot() (pid int, running, stopped bool, restarts int, started time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		pid, started = p.cur.pid, p.cur.started
		running = !p.cur.exited()
	}
	return pid, running, p.stopped, p.restarts, started
}
