package raid1

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// rebuildChunk is the span Rebuild copies at a time (a variable so that
// tests can make a small volume take many chunks).
var rebuildChunk int64 = 1 << 20

// ErrRebuildStopped is returned by Rebuild when the target stopped being a
// WO member (removed, failed, or made RW by someone else) before the copy
// finished.
var ErrRebuildStopped = errors.New("rebuild target is no longer a WO member")

// Rebuild copies the whole volume from the RW members to the WO member
// target, chunk by chunk, and makes it RW when every chunk is copied: the
// rebuild SPDK starts by itself when a base bdev is added to an online
// raid. progress, if not nil, is called with the bytes copied so far.
//
// Each chunk is copied as a write: it is admitted by the gate (so Suspend
// waits for it and AddMember's drain counts it) and holds the overlap lock
// of its range, so a user write to the range either finished before the
// copy read the source, and the copy carries it, or starts after the copy
// wrote the target, and reaches the target itself (a WO member takes every
// write). The target's device is written only while its in-flight count is
// raised, so RemoveMember still waits for it. A raid with a write-intent
// log is refused: its bitmaps would not learn of the copy.
func (r *Raid) Rebuild(ctx context.Context, target string, progress func(done int64)) error {
	if r.intent != nil {
		return fmt.Errorf("raid1 %s rebuild %s: not with a write-intent log", r.name, target)
	}
	buf := make([]byte, rebuildChunk)
	for off := int64(0); off < r.size; off += rebuildChunk {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("raid1 %s rebuild %s: %w", r.name, target, err)
		}
		n := min(rebuildChunk, r.size-off)
		if err := r.rebuildChunk(target, buf[:n], off); err != nil {
			return err
		}
		if progress != nil {
			progress(off + n)
		}
	}
	r.mu.Lock()
	_, m := r.find(target)
	ok := m != nil && m.state == StateWO
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("raid1 %s rebuild %s: %w", r.name, target, ErrRebuildStopped)
	}
	return r.SetMemberState(target, StateRW)
}

// rebuildChunk copies [off, off+len(buf)) to target under the gate and
// the overlap lock.
func (r *Raid) rebuildChunk(target string, buf []byte, off int64) error {
	legs, err := r.begin(true)
	if err != nil {
		return err
	}
	defer r.end(true)
	// Only the target is written: release the other legs at once.
	var dst *member
	for _, m := range legs {
		if m.name == target && dst == nil {
			dst = m
			continue
		}
		m.inflight.Add(-1)
		m.io.Done()
	}
	if dst == nil {
		return fmt.Errorf("raid1 %s rebuild %s: %w", r.name, target, ErrRebuildStopped)
	}
	defer func() {
		dst.inflight.Add(-1)
		dst.io.Done()
	}()
	defer r.overlap.lock(off, int64(len(buf)))()
	r.mu.Lock()
	state, listed := dst.state, r.listed(dst)
	r.mu.Unlock()
	if !listed || state != StateWO {
		return fmt.Errorf("raid1 %s rebuild %s: %w", r.name, target, ErrRebuildStopped)
	}
	if err := r.readAny(buf, off); err != nil {
		return fmt.Errorf("raid1 %s rebuild %s: %w", r.name, target, err)
	}
	n, err := dst.dev.WriteAt(buf, off)
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		dst.errors.Add(1)
		r.markFailed(dst, err)
		return fmt.Errorf("raid1 %s rebuild %s: write at %d: %w", r.name, target, off, err)
	}
	dst.writes.Add(1)
	dst.bytesWritten.Add(uint64(n))
	return nil
}
