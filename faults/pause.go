package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faultline/faultline/cluster"
)

// ErrPauseUnsupported is returned by Pause's Inject when the cluster
// driver cannot stall a node.
var ErrPauseUnsupported = errors.New("pause: this cluster driver cannot stall a node")

// NodePauser stalls a node's processes without killing them and lets them
// run again. The local cluster SIGSTOPs and SIGCONTs the node's process
// group (instance manager and engines); kind freezes the node's container.
type NodePauser interface {
	// PauseNode returns once the node's processes are stopped.
	PauseNode(ctx context.Context, node string) error
	// ResumeNode lets them run again; resuming a node that is not paused
	// does nothing.
	ResumeNode(ctx context.Context, node string) error
}

// resumeTimeout bounds the resume Heal does even when its context has
// ended: a stalled node must not outlive the fault.
const resumeTimeout = 30 * time.Second

// Pause stalls a node for at least duration: a process that is alive but
// does not run, so peers see timeouts rather than closed connections, and
// nothing restarts it. Inject returns once the node is stopped; Heal waits
// for what is left of duration and resumes it, with the same processes.
// d is usually the cluster driver; when it is not a NodePauser, Inject
// fails with ErrPauseUnsupported.
//
// Heal is safe after a failed Inject and idempotent: it always resumes
// (resuming a running node does nothing) and waits only after a pause that
// took effect. When ctx ends during the wait, Heal resumes at once.
func Pause(d any, node string, duration time.Duration) Fault {
	p, _ := d.(NodePauser)
	return &pause{p: p, node: node, duration: duration}
}

type pause struct {
	p        NodePauser
	node     string
	duration time.Duration

	mu     sync.Mutex
	paused time.Time // when Inject stopped the node; zero when not paused
}

func (f *pause) Name() string { return "pause" }
func (f *pause) Params() map[string]string {
	return map[string]string{"node": f.node, "duration": f.duration.String()}
}

func (f *pause) Inject(ctx context.Context) error {
	if f.p == nil {
		return ErrPauseUnsupported
	}
	start := time.Now()
	if err := f.p.PauseNode(ctx, f.node); err != nil {
		return fmt.Errorf("pause %s: %w", f.node, err)
	}
	f.mu.Lock()
	f.paused = start
	f.mu.Unlock()
	return nil
}

func (f *pause) Heal(ctx context.Context) error {
	if f.p == nil {
		return nil
	}
	f.mu.Lock()
	paused := f.paused
	f.paused = time.Time{}
	f.mu.Unlock()
	if !paused.IsZero() {
		t := time.NewTimer(time.Until(paused.Add(f.duration)))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resumeTimeout)
	defer cancel()
	err := f.p.ResumeNode(rctx, f.node)
	if errors.Is(err, cluster.ErrUnknownNode) && paused.IsZero() {
		return nil // Inject failed on it: there is nothing to resume
	}
	if err != nil {
		return fmt.Errorf("resume %s: %w", f.node, err)
	}
	return nil
}
