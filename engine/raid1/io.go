package raid1

import (
	"fmt"
	"io"
	"strings"
	"sync"
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
	var tried []*member
	var errs []error
	for {
		m := r.pickReader(tried)
		if m == nil {
			return 0, r.ioError("read", off, errs)
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
			return n, nil
		}
		m.errors.Add(1)
		r.markFailed(m, err)
		tried = append(tried, m)
		errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
	}
}

// pickReader chooses the RW member, not in tried, with the fewest requests
// outstanding, starting the scan at a rotating index so that equals take
// turns. It raises the member's in-flight count.
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
		if load := m.inflight.Load(); best == nil || load < bestLoad {
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

// WriteAt writes p to every RW and WO member.
func (r *Raid) WriteAt(p []byte, off int64) (int, error) {
	err := r.mirror("write", off, int64(len(p)), func(m *member) error {
		n, err := m.dev.WriteAt(p, off)
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
		if err == nil {
			m.writes.Add(1)
			m.bytesWritten.Add(uint64(n))
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteZeroes zeroes the range on every RW and WO member.
func (r *Raid) WriteZeroes(off, length int64) error {
	return r.mirror("write zeroes", off, length, func(m *member) error {
		err := m.dev.WriteZeroes(off, length)
		if err == nil {
			m.writes.Add(1)
		}
		return err
	})
}

// Unmap discards the range on every RW and WO member.
func (r *Raid) Unmap(off, length int64) error {
	return r.mirror("unmap", off, length, func(m *member) error {
		err := m.dev.Unmap(off, length)
		if err == nil {
			m.writes.Add(1)
		}
		return err
	})
}

// Flush flushes every RW and WO member.
func (r *Raid) Flush() error {
	return r.mirror("flush", 0, 0, func(m *member) error {
		err := m.dev.Flush()
		if err == nil {
			m.flushes.Add(1)
		}
		return err
	})
}

// mirror runs do on every RW and WO member at once and waits for all of
// them. Members that fail are marked ERR. It succeeds if a member that is
// RW and still in the raid when the request ends succeeded: a removed
// member's copy does not count, and a WO member does not yet hold the
// whole volume.
func (r *Raid) mirror(op string, off, length int64, do func(*member) error) error {
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
	results := make([]error, len(legs))
	run := func(i int) {
		m := legs[i]
		results[i] = do(m)
		m.inflight.Add(-1)
		m.io.Done()
	}
	if len(legs) > 1 {
		var wg sync.WaitGroup
		for i := 1; i < len(legs); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(i)
			}()
		}
		run(0)
		wg.Wait()
	} else if len(legs) == 1 {
		run(0)
	}
	var errs []error
	for i, err := range results {
		if err != nil {
			legs[i].errors.Add(1)
			r.markFailed(legs[i], err)
			errs = append(errs, fmt.Errorf("%s: %w", legs[i].name, err))
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
