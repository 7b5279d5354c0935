package raid1

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/engine/bdev"
)

// The gate admits requests. It holds new requests back while the raid is
// suspended, holds new writes back while a member joins, and counts what
// is in flight so that Suspend, AddMember and Close can wait for it.

// notify wakes every waiter. r.mu must be held.
func (r *Raid) notify() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// waitLocked releases r.mu until the next notify. r.mu must be held.
func (r *Raid) waitLocked() {
	ch := r.changedChan()
	r.mu.Unlock()
	<-ch
	r.mu.Lock()
}

// waitLockedCtx is waitLocked that gives up when ctx is done.
func (r *Raid) waitLockedCtx(ctx context.Context) error {
	ch := r.changedChan()
	r.mu.Unlock()
	defer r.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Raid) changedChan() chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

// begin admits a request, waiting while the raid is suspended (and, for a
// write, while a member joins). For a write it returns the members that
// must take it, each with its in-flight count raised; end must follow.
func (r *Raid) begin(write bool) ([]*member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for !r.closed && (r.suspended || (write && r.joining > 0)) {
		r.held++
		r.waitLocked()
		r.held--
	}
	if r.closed {
		return nil, fmt.Errorf("raid1 %s: %w", r.name, bdev.ErrClosed)
	}
	r.inflight++
	if !write {
		return nil, nil
	}
	r.writes++
	var legs []*member
	for _, m := range r.members {
		if m.state == StateRW || m.state == StateWO {
			m.io.Add(1)
			m.inflight.Add(1)
			legs = append(legs, m)
		}
	}
	return legs, nil
}

// end finishes a request admitted by begin.
func (r *Raid) end(write bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if write {
		r.writes--
	}
	if r.inflight == 0 || r.writes == 0 {
		r.notify()
	}
}

// Suspend holds every new request back and returns once the requests in
// flight have finished, so that the caller can swap what is under the raid
// (a parent, the engine binary during a live upgrade). If ctx ends first,
// the raid is resumed and ctx's error returned. Resume lets I/O go on.
func (r *Raid) Suspend(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return fmt.Errorf("raid1 %s suspend: %w", r.name, bdev.ErrClosed)
	case r.suspended:
		return fmt.Errorf("raid1 %s suspend: already suspended", r.name)
	}
	r.suspended = true
	for r.inflight > 0 {
		if err := r.waitLockedCtx(ctx); err != nil {
			r.suspended = false
			r.notify()
			return fmt.Errorf("raid1 %s suspend: waiting for %d requests in flight: %w", r.name, r.inflight, err)
		}
	}
	r.log.Info("raid1 suspended")
	return nil
}

// Resume lets the requests held back by Suspend go on. Resuming a raid
// that is not suspended does nothing.
func (r *Raid) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.suspended {
		r.suspended = false
		r.notify()
		r.log.Info("raid1 resumed")
	}
}

// Suspended reports whether the raid is suspended.
func (r *Raid) Suspended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.suspended
}
