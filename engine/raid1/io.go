package raid1

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// ReadAt reads from one RW member, trying the others in turn when one
// fails (the failing member is marked ERR). With no RW member left it fails
// with an error that matches syscall.EIO.
func (r *Raid) ReadAt(p []byte, off int64) (int, error) {
	if err := bdev.CheckRange(off, int64(len(p)), r.size, r.blockSize); err != nil {
		return 0, fmt.Errorf("raid1 %s read of %d bytes at %d: %w", r.name, len(p), off, err)
	}
	if _, err := r.begin(false); err != nil {
		return 0, err
	}
	defer r.end(false)
	if err := r.readAny(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// readAny reads p at off from one RW member, failing over to the others
// (a failing member is marked ERR). The caller holds an admission through
// the gate: ReadAt, or a rebuild copying the volume.
func (r *Raid) readAny(p []byte, off int64) error {
	var tried []*member
	var errs []error
	for {
		m := r.pickReader(tried)
		if m == nil {
			return r.ioError("read", off, errs)
		}
		n, err := m.dev.ReadAt(p, off)
		if err == nil && n < len(p) {
			err = io.ErrUnexpectedEOF
		}
		m.inflight.Add(-1)
		m.io.Done()
		if err == nil {
			m.reads.Add(1)
			m.bytesRead.Add(uint64(n))
			return nil
		}
		m.errors.Add(1)
		r.markFailed(m, err)
		tried = append(tried, m)
		errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
	}
}

// pickReader chooses the RW member, not in tried, to read from: a member
// on this machine before a remote one, and among those the one with the
// fewest requests outstanding, starting the scan at a rotating index so
// that equals take turns. It raises the member's in-flight count.
//
// Preferring local members is md's write-mostly rule, not a load
// balance: a read a remote replica serves costs a network round trip and
// the CPU of a socket on each side, and a mirror whose members are on the
// same machine as the raid (one replica local, as Longhorn places them)
// reads faster from that one however many requests it has queued.
func (r *Raid) pickReader(tried []*member) *member {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.members)
	if n == 0 {
		return nil
	}
	start := int(r.next.Add(1) % uint64(n))
	var best *member
	var bestLoad int64
	for i := range n {
		m := r.members[(start+i)%n]
		if m.state != StateRW || contains(tried, m) {
			continue
		}
		load := m.inflight.Load()
		switch {
		case best == nil,
			best.remote && !m.remote,
			best.remote == m.remote && load < bestLoad:
			best, bestLoad = m, load
		}
	}
	if best != nil {
		best.io.Add(1)
		best.inflight.Add(1)
	}
	return best
}

func contains(ms []*member, m *member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// WriteAt writes p to every RW and WO member. A member that can start a
// write and be waited for later (bdev.AsyncWriter: a remote replica) is
// sent the write first, so that it travels while the others are written.
func (r *Raid) WriteAt(p []byte, off int64) (int, error) {
	err := r.mirror("write", off, int64(len(p)), func(m *member) error {
		n, err := m.dev.WriteAt(p, off)
		return m.wrote(len(p), n, err)
	}, func(m *member) func() error {
		aw, ok := m.dev.(bdev.AsyncWriter)
		if !ok {
			return nil
		}
		wait := aw.StartWriteAt(p, off)
		return func() error {
			n, err := wait()
			return m.wrote(len(p), n, err)
		}
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// wrote accounts for a write of want bytes to m that wrote n of them and
// returned err: a short write is an error, a whole one is counted.
func (m *member) wrote(want, n int, err error) error {
	if err == nil && n < want {
		err = io.ErrShortWrite
	}
	if err == nil {
		m.writes.Add(1)
		m.bytesWritten.Add(uint64(n))
	}
	return err
}

// WriteZeroes zeroes the range on every RW and WO member.
func (r *Raid) WriteZeroes(off, length int64) error {
	return r.mirror("write zeroes", off, length, func(m *member) error {
		err := m.dev.WriteZeroes(off, length)
		if err == nil {
			m.writes.Add(1)
		}
		return err
	}, nil)
}

// Unmap discards the range on every RW and WO member.
func (r *Raid) Unmap(off, length int64) error {
	return r.mirror("unmap", off, length, func(m *member) error {
		err := m.dev.Unmap(off, length)
		if err == nil {
			m.writes.Add(1)
		}
		return err
	}, nil)
}

// Flush flushes every RW and WO member. A flush that every member took,
// with no member in ERR, lets the write-intent log clear the regions whose
// writes it covered.
func (r *Raid) Flush() error {
	epoch, logged := r.intentFlushStart()
	var failed atomic.Bool
	err := r.mirror("flush", 0, 0, func(m *member) error {
		err := m.dev.Flush()
		if err == nil {
			m.flushes.Add(1)
		} else {
			failed.Store(true)
		}
		return err
	}, nil)
	if logged && err == nil && !failed.Load() {
		if cerr := r.intentFlushed(epoch); cerr != nil {
			r.log.Warn("raid1 write-intent clear", "err", cerr)
		}
	}
	return err
}

// mirror runs do on every RW and WO member at once and waits for all of
// them. When start is not nil it is offered each member first: a member
// for which it returns a wait function has had the request started and
// is done when wait returns; do runs on the others, the first on the
// caller's goroutine and the rest on goroutines of their own. Members that fail are marked ERR. It succeeds if a member that is
// RW and still in the raid when the request ends succeeded: a removed
// member's copy does not count, and a WO member does not yet hold the
// whole volume.
//
// A write that no RW member could take because every one of them is out of
// space changed nothing on them (an lvol allocates all the clusters a
// write needs or none), so they still agree: they stay RW and the write
// fails with ENOSPC. A WO member that took it is failed instead, since it
// now holds what the others do not.
func (r *Raid) mirror(op string, off, length int64, do func(*member) error, start func(*member) (wait func() error)) error {
	var byLeg func(int, *member) error
	if do != nil {
		byLeg = func(_ int, m *member) error { return do(m) }
	}
	var startByLeg func(int, *member) func() error
	if start != nil {
		startByLeg = func(_ int, m *member) func() error { return start(m) }
	}
	return r.mirrorLegs(op, off, length, nil, byLeg, startByLeg)
}

// mirrorLegs is mirror with each leg's index passed to do and start, and
// prepare, when not nil, called with the legs once the request is
// admitted and before any leg starts; its error fails the request with
// no member touched.
func (r *Raid) mirrorLegs(op string, off, length int64, prepare func([]*member) error, do func(int, *member) error, start func(int, *member) (wait func() error)) error {
	if err := bdev.CheckRange(off, length, r.size, r.blockSize); err != nil {
		return fmt.Errorf("raid1 %s %s of %d bytes at %d: %w", r.name, op, length, off, err)
	}
	legs, err := r.begin(true)
	if err != nil {
		return err
	}
	defer r.end(true)
	// Taken once admitted, so that the gate (Suspend, AddMember) counts a
	// write waiting here as in flight; the writes ahead of it are in flight
	// too and finish without this one.
	defer r.overlap.lock(off, length)()
	if r.intent != nil && op != "flush" {
		if err := r.intentBegin(off, length); err != nil {
			return err
		}
		defer r.intentEnd(off, length)
	}
	if prepare != nil {
		if err := prepare(legs); err != nil {
			for _, m := range legs {
				m.inflight.Add(-1)
				m.io.Done()
			}
			return fmt.Errorf("raid1 %s %s of %d bytes at %d: %w", r.name, op, length, off, err)
		}
	}
	results := make([]error, len(legs))
	rwAtStart := make([]bool, len(legs))
	r.mu.Lock()
	for i, m := range legs {
		rwAtStart[i] = m.state == StateRW
	}
	r.mu.Unlock()
	finish := func(i int, err error) {
		results[i] = err
		legs[i].inflight.Add(-1)
		legs[i].io.Done()
	}
	var waits []func() error // by leg, for the legs start started
	var syncBuf [4]int
	syncLegs := syncBuf[:0] // the others
	if start != nil {
		waits = make([]func() error, len(legs))
	}
	for i, m := range legs {
		if start != nil {
			if waits[i] = start(i, m); waits[i] != nil {
				continue
			}
		}
		syncLegs = append(syncLegs, i)
	}
	var wg sync.WaitGroup
	for k, i := range syncLegs {
		if k == 0 {
			continue
		}
		wg.Go(func() { finish(i, do(i, legs[i])) })
	}
	if len(syncLegs) > 0 {
		i := syncLegs[0]
		finish(i, do(i, legs[i]))
	}
	for i, wait := range waits {
		if wait != nil {
			finish(i, wait())
		}
	}
	wg.Wait()
	if op != "flush" && r.outOfSpace(legs, results, rwAtStart) {
		r.noSpace.Add(1)
		return fmt.Errorf("raid1 %s %s of %d bytes at %d: no RW member has room: %w", r.name, op, length, off, syscall.ENOSPC)
	}
	var errs []error
	for i, err := range results {
		if err != nil {
			legs[i].errors.Add(1)
			r.markFailed(legs[i], err)
			errs = append(errs, fmt.Errorf("%s: %w", legs[i].name, err))
		}
	}
	if len(errs) > 0 && r.intent != nil {
		// The members that remain must record the failure before a write
		// the failed ones lack is acknowledged.
		if err := r.persist(0); err != nil {
			return r.ioError(op, off, append(errs, err))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range legs {
		if results[i] == nil && m.state == StateRW && r.listed(m) {
			return nil
		}
	}
	return r.ioError(op, off, errs)
}

// outOfSpace reports whether a write failed with ENOSPC on every member
// that was RW when it started. Then it fails the legs that did take the
// write (WO members: they now differ from the RW ones) and the legs that
// failed otherwise, and leaves the RW members as they are.
func (r *Raid) outOfSpace(legs []*member, results []error, rwAtStart []bool) bool {
	rw := 0
	for i, err := range results {
		if !rwAtStart[i] {
			continue
		}
		rw++
		if !errors.Is(err, syscall.ENOSPC) {
			return false
		}
	}
	if rw == 0 {
		return false
	}
	for i, m := range legs {
		if rwAtStart[i] {
			continue
		}
		cause := results[i]
		if cause == nil {
			cause = errors.New("took a write that every RW member refused for lack of space")
		}
		m.errors.Add(1)
		r.markFailed(m, cause)
	}
	if r.intent != nil {
		if err := r.persist(0); err != nil {
			r.log.Warn("raid1 write-intent header after a failed write-only member", "err", err)
		}
	}
	return true
}

// ioError reports that no RW member could serve a request. It matches
// syscall.EIO with errors.Is, and carries the members' errors as text
// only, so that a member's ErrOutOfRange is not mistaken for the raid's.
func (r *Raid) ioError(op string, off int64, memberErrs []error) error {
	if len(memberErrs) == 0 {
		return fmt.Errorf("raid1 %s %s at %d: no RW member: %w", r.name, op, off, syscall.EIO)
	}
	msgs := make([]string, len(memberErrs))
	for i, err := range memberErrs {
		msgs[i] = err.Error()
	}
	return fmt.Errorf("raid1 %s %s at %d: no RW member succeeded (%s): %w", r.name, op, off, strings.Join(msgs, "; "), syscall.EIO)
}
