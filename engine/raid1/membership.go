package raid1

import (
	"errors"
	"fmt"
	"slices"

	"github.com/faultline/faultline/engine/bdev"
)

// AddMember adds m in state WO: it takes every write that starts from now
// on and serves no reads until SetMemberState makes it RW. A raid with a
// write-intent log needs m.Bitmap; the log's header and pages are written
// to it before it joins.
//
// New writes are held back while the writes already in flight finish, and
// only then is the member listed. Without that pause a write that started
// before the join could be acknowledged after AddMember returned without
// having reached the new member, and a rebuild that copies data which was
// on the healthy members when the join completed would miss it.
func (r *Raid) AddMember(m Member) error {
	if err := checkMember(m); err != nil {
		return fmt.Errorf("raid1 %s add member: %w", r.name, err)
	}
	if bs := m.Dev.BlockSize(); bs != r.blockSize {
		return fmt.Errorf("raid1 %s add member %s: block size %d, raid has %d", r.name, m.Name, bs, r.blockSize)
	}
	if size := m.Dev.Size(); size < r.size {
		return fmt.Errorf("raid1 %s add member %s: %d bytes, smaller than the raid's %d", r.name, m.Name, size, r.size)
	}
	if err := r.seedBitmap(m); err != nil {
		return fmt.Errorf("raid1 %s add member %s: %w", r.name, m.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("raid1 %s add member %s: %w", r.name, m.Name, bdev.ErrClosed)
	}
	if _, old := r.find(m.Name); old != nil {
		return fmt.Errorf("raid1 %s add member %s: a member of that name exists", r.name, m.Name)
	}
	r.joining++
	for r.writes > 0 {
		r.waitLocked()
	}
	r.joining--
	r.notify()
	// Checked again: a concurrent AddMember of the same name may have won.
	if _, old := r.find(m.Name); old != nil {
		return fmt.Errorf("raid1 %s add member %s: a member of that name exists", r.name, m.Name)
	}
	if r.closed {
		return fmt.Errorf("raid1 %s add member %s: %w", r.name, m.Name, bdev.ErrClosed)
	}
	r.members = append(r.members, newMember(m, StateWO))
	r.log.Info("raid1 member added", "member", m.Name, "state", StateWO)
	return nil
}

// SetMemberState changes a member's mode, typically WO to RW after a
// rebuild. Setting ERR takes the member out without reporting it through
// OnMemberFailed; setting RW or WO on an ERR member brings it back, which
// is only right if the caller knows it holds the data (salvage).
func (r *Raid) SetMemberState(name string, s State) error {
	if !s.valid() {
		return fmt.Errorf("raid1 %s set member %s: unknown state %q", r.name, name, s)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, m := r.find(name)
	if m == nil {
		return fmt.Errorf("raid1 %s set member %s: no such member", r.name, name)
	}
	if m.state == s {
		return nil
	}
	r.log.Info("raid1 member state", "member", name, "from", m.state, "to", s)
	m.state = s
	switch {
	case s == StateERR:
		m.err = fmt.Errorf("set to %s", StateERR)
		if r.intent != nil {
			r.intent.noteFailure()
		}
	case s == StateRW && r.intent != nil:
		// Its header still says rebuilding: the next persist (at the
		// latest the next flush) writes it in sync.
		m.err = nil
		r.intent.mu.Lock()
		r.intent.headerDirty = true
		r.intent.mu.Unlock()
	default:
		m.err = nil
	}
	return nil
}

// seedBitmap writes the write-intent log's header and every bitmap page
// to a joining member's bitmap device. Pages that change between this and
// the join reach only the members listed then; that is safe because the
// joining member is write-only until rebuilt, and after it the union of all
// members' bitmaps still covers every region in doubt.
func (r *Raid) seedBitmap(m Member) error {
	il := r.intent
	if il == nil {
		return nil
	}
	if m.Bitmap == nil {
		return errors.New("the raid keeps a write-intent log and the member has no bitmap device")
	}
	if need := intentPage * (1 + bitmapPages(il.regions)); m.Bitmap.Size() < need {
		return fmt.Errorf("bitmap device holds %d bytes, %d needed", m.Bitmap.Size(), need)
	}
	il.pmu.Lock()
	defer il.pmu.Unlock()
	il.mu.Lock()
	h := il.header()
	h.flags |= intentFlagRebuilding // it joins write-only
	hdr := h.marshal()
	pages := make([][]byte, bitmapPages(il.regions))
	for p := range pages {
		pages[p] = il.page(int64(p))
	}
	il.mu.Unlock()
	for p, b := range pages {
		if err := writeBlock(m.Bitmap, b, intentPage*int64(1+p), true); err != nil {
			return fmt.Errorf("write-intent bitmap page %d: %w", p, err)
		}
	}
	if err := writeBlock(m.Bitmap, hdr, 0, true); err != nil {
		return fmt.Errorf("write-intent bitmap header: %w", err)
	}
	return nil
}

// RemoveMember takes the member out and returns once the I/O it was
// serving has finished, so the caller may close its device. Writes in
// flight still complete on the other members; a write counts as
// acknowledged only if a member that stays in the raid took it.
func (r *Raid) RemoveMember(name string) error {
	r.mu.Lock()
	i, m := r.find(name)
	if m == nil {
		r.mu.Unlock()
		return fmt.Errorf("raid1 %s remove member %s: no such member", r.name, name)
	}
	r.members = slices.Delete(r.members, i, i+1)
	r.mu.Unlock()
	m.io.Wait()
	r.log.Info("raid1 member removed", "member", name)
	return nil
}
