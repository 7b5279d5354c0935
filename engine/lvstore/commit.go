package lvstore

import (
	"fmt"
	"slices"
	"syscall"
)

// commitLocked makes the current state durable: it encodes the metadata,
// flushes the data written so far (so no durable metadata ever points at a
// cluster whose copy-on-write fill is not on disk), writes the next slot and
// flushes again. Clusters freed before the encode become reusable only
// after that. Caller holds mdMu.
func (s *Store) commitLocked() error {
	pending := s.alloc.takePending()
	s.dirty.Store(false)
	// Mappings changed before this point are in the encoding below.
	epoch := s.epoch.Add(1)
	payload := s.stateLocked().encode()
	fail := func(err error) error {
		s.alloc.restorePending(pending)
		s.dirty.Store(true)
		return err
	}
	if uint64(len(payload)) > s.sb.slotSize-slotHdrSize {
		return fail(errno(syscall.ENOSPC, "metadata of %d bytes exceeds slot of %d", len(payload), s.sb.slotSize))
	}
	if err := s.dev.Flush(); err != nil {
		return fail(fmt.Errorf("flush data: %w", err))
	}
	seq := s.seq + 1
	h := slotHeader{seq: seq, payloadLen: uint64(len(payload)), payloadCRC: crc(payload), store: s.sb.id}
	buf := make([]byte, roundUp(uint64(slotHdrSize+len(payload)), uint64(s.sb.blockSize)))
	copy(buf, h.marshal())
	copy(buf[slotHdrSize:], payload)
	off := int64(s.sb.mdOffset + (seq%numSlots)*s.sb.slotSize)
	if _, err := s.dev.WriteAt(buf, off); err != nil {
		return fail(fmt.Errorf("write metadata slot %d: %w", seq%numSlots, err))
	}
	if err := s.dev.Flush(); err != nil {
		return fail(fmt.Errorf("flush metadata slot %d: %w", seq%numSlots, err))
	}
	s.seq = seq
	s.durable.Store(epoch)
	s.alloc.release(pending)
	return nil
}

// stateLocked captures the metadata. Caller holds mdMu, so topology is
// stable; each lvol's cluster map is read under its lock.
func (s *Store) stateLocked() *mdState {
	m := &mdState{name: s.Name()}
	for _, lv := range s.snapshotLvols() {
		lv.mu.RLock()
		m.lvols = append(m.lvols, lv.recordLocked())
		lv.mu.RUnlock()
	}
	return m
}

// recordLocked encodes the lvol; caller holds lv.mu.
func (lv *Lvol) recordLocked() mdLvol {
	r := mdLvol{
		id:          lv.id,
		name:        lv.name,
		ext:         lv.extUUID,
		numClusters: lv.numClusters,
		created:     lv.created,
	}
	if lv.thin {
		r.flags |= flagThin
	}
	if lv.readOnly {
		r.flags |= flagReadOnly
	}
	if lv.snapshot {
		r.flags |= flagSnapshot
	}
	if lv.parent != nil {
		r.parent = lv.parent.id
	}
	for k, v := range lv.xattrs {
		r.xattrs = append(r.xattrs, [2]string{k, v})
	}
	slices.SortFunc(r.xattrs, func(a, b [2]string) int {
		if a[0] < b[0] {
			return -1
		}
		if a[0] > b[0] {
			return 1
		}
		return 0
	})
	keys := make([]uint32, 0, len(lv.clusters))
	for v := range lv.clusters {
		keys = append(keys, v)
	}
	slices.Sort(keys)
	for _, v := range keys {
		p := lv.clusters[v]
		if n := len(r.extents); n > 0 {
			e := &r.extents[n-1]
			if e.virt+e.n == v && e.phys+e.n == p {
				e.n++
				continue
			}
		}
		r.extents = append(r.extents, extent{virt: v, phys: p, n: 1})
	}
	return r
}

// fixedLenLocked is the lvol's encoded size without extents.
func (lv *Lvol) fixedLenLocked() int {
	n := lvolFixedLen + len(lv.name) + len(lv.extUUID)
	for k, v := range lv.xattrs {
		n += 1 + len(k) + 2 + len(v)
	}
	return n
}
