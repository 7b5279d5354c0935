package lvstore

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/faultline/faultline/engine/bdev"
)

// Open loads the lvstore found on dev ("examine"). It returns ErrNotFound
// when dev holds none and an error wrapping ErrCorrupt when the superblock
// or both metadata slots are unusable. Esnap clones whose external bdev
// resolve cannot find are loaded degraded.
func Open(dev bdev.Device, resolve ExternalResolver, opts ...Option) (*Store, error) {
	o := buildOptions(opts)
	devSize := dev.Size()
	if devSize < superSize {
		return nil, ErrNotFound
	}
	b := make([]byte, superSize)
	if _, err := dev.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("open lvstore: read superblock: %w", err)
	}
	sb, err := unmarshalSuperblock(b, devSize)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("open lvstore: %w", err)
	}
	if dev.BlockSize() <= 0 || int(sb.blockSize)%dev.BlockSize() != 0 {
		return nil, fmt.Errorf("open lvstore: store block size %d is not a multiple of the device block size %d", sb.blockSize, dev.BlockSize())
	}
	var best *mdState
	var bestSeq uint64
	var errs []error
	for i := range uint64(numSlots) {
		st, seq, err := readSlot(dev, sb, i)
		if err != nil {
			errs = append(errs, fmt.Errorf("slot %d: %w", i, err))
			continue
		}
		if best == nil || seq > bestSeq {
			best, bestSeq = st, seq
		}
	}
	if best == nil {
		return nil, fmt.Errorf("open lvstore %s: no valid metadata slot: %w", sb.id, errors.Join(errs...))
	}
	s := newStore(dev, *sb, o.log, best.name)
	s.seq = bestSeq
	if err := s.load(best, resolve); err != nil {
		return nil, fmt.Errorf("open lvstore %s: %w", sb.id, err)
	}
	for _, e := range errs {
		s.log.Warn("lvstore metadata slot unusable; using the other", "lvstore", s.name, "err", e)
	}
	s.log.Info("lvstore loaded", "name", s.name, "uuid", sb.id.String(), "seq", bestSeq, "lvols", len(s.lvols))
	return s, nil
}

// readSlot reads and decodes metadata slot i.
func readSlot(dev bdev.Device, sb *superblock, i uint64) (*mdState, uint64, error) {
	off := int64(sb.mdOffset + i*sb.slotSize)
	bs := uint64(sb.blockSize)
	hb := make([]byte, bs)
	if _, err := dev.ReadAt(hb, off); err != nil {
		return nil, 0, fmt.Errorf("read header: %w", err)
	}
	h, err := unmarshalSlotHeader(hb, sb.id, sb.slotSize-slotHdrSize)
	if err != nil {
		return nil, 0, err
	}
	buf := make([]byte, roundUp(slotHdrSize+h.payloadLen, bs))
	if _, err := dev.ReadAt(buf, off); err != nil {
		return nil, 0, fmt.Errorf("read payload: %w", err)
	}
	payload := buf[slotHdrSize : slotHdrSize+h.payloadLen]
	if got := crc(payload); got != h.payloadCRC {
		return nil, 0, corrupt("payload checksum %#x, want %#x", got, h.payloadCRC)
	}
	st, err := decodeState(payload)
	if err != nil {
		return nil, 0, err
	}
	return st, h.seq, nil
}

// load builds the in-memory store from decoded metadata, checking every
// invariant the rest of the package relies on.
func (s *Store) load(m *mdState, resolve ExternalResolver) error {
	if err := checkName("lvstore", m.name); err != nil {
		return corrupt("%v", err)
	}
	byID := make(map[uuid]*Lvol, len(m.lvols))
	for i := range m.lvols {
		r := &m.lvols[i]
		if r.id.isZero() {
			return corrupt("lvol %d has a zero uuid", i)
		}
		if _, dup := byID[r.id]; dup {
			return corrupt("duplicate lvol uuid %s", r.id)
		}
		if err := checkName("lvol", r.name); err != nil {
			return corrupt("lvol %s: %v", r.id, err)
		}
		if _, dup := s.byName[r.name]; dup {
			return corrupt("duplicate lvol name %q", r.name)
		}
		if r.flags&^flagsKnown != 0 {
			return corrupt("lvol %s has unknown flags %#x", r.id, r.flags)
		}
		if r.numClusters > maxLvolClusters {
			return corrupt("lvol %s has %d clusters", r.id, r.numClusters)
		}
		if !r.parent.isZero() && r.ext != "" {
			return corrupt("lvol %s has both a parent and an external parent", r.id)
		}
		lv := &Lvol{
			s:           s,
			id:          r.id,
			uuidText:    r.id.String(),
			name:        r.name,
			thin:        r.flags&flagThin != 0,
			readOnly:    r.flags&flagReadOnly != 0,
			snapshot:    r.flags&flagSnapshot != 0,
			extUUID:     r.ext,
			numClusters: r.numClusters,
			created:     r.created,
			clusters:    make(map[uint32]uint32),
			xattrs:      make(map[string]string, len(r.xattrs)),
		}
		for _, kv := range r.xattrs {
			if err := checkXattr(kv[0], kv[1]); err != nil {
				return corrupt("lvol %s: %v", r.id, err)
			}
			if _, dup := lv.xattrs[kv[0]]; dup {
				return corrupt("lvol %s: duplicate xattr %q", r.id, kv[0])
			}
			lv.xattrs[kv[0]] = kv[1]
		}
		for _, e := range r.extents {
			if e.n == 0 || uint64(e.virt)+uint64(e.n) > r.numClusters || uint64(e.phys)+uint64(e.n) > s.sb.totalClusters {
				return corrupt("lvol %s: extent %d+%d -> %d out of range", r.id, e.virt, e.n, e.phys)
			}
			for j := range e.n {
				if _, dup := lv.clusters[e.virt+j]; dup {
					return corrupt("lvol %s: cluster %d mapped twice", r.id, e.virt+j)
				}
				if !s.alloc.markUsed(e.phys + j) {
					return corrupt("lvol %s: physical cluster %d owned twice", r.id, e.phys+j)
				}
				lv.clusters[e.virt+j] = e.phys + j
			}
		}
		byID[r.id] = lv
		s.lvols[lv.uuidText] = lv
		s.byName[lv.name] = lv
	}
	// Creation order across a restart: by creation time, then UUID.
	loaded := slices.SortedFunc(maps.Values(byID), func(a, b *Lvol) int {
		if c := cmp.Compare(a.created, b.created); c != 0 {
			return c
		}
		return compareUUID(a.id, b.id)
	})
	for _, lv := range loaded {
		s.order++
		lv.order = s.order
	}
	for i := range m.lvols {
		r := &m.lvols[i]
		lv := byID[r.id]
		if !r.parent.isZero() {
			p, ok := byID[r.parent]
			if !ok {
				return corrupt("lvol %s: parent %s missing", r.id, r.parent)
			}
			if !p.readOnly {
				return corrupt("lvol %s: parent %s is not read-only", r.id, r.parent)
			}
			lv.parent = p
		}
		if r.ext != "" {
			if dev, ok := resolveExt(resolve, r.ext); ok {
				lv.extDev = dev
				s.ext[r.ext] = dev
			} else {
				s.log.Warn("esnap clone degraded: external bdev missing", "lvol", r.name, "external", r.ext)
			}
		}
	}
	for _, lv := range byID {
		steps := 0
		for p := lv.parent; p != nil; p = p.parent {
			if steps++; steps > len(byID) {
				return corrupt("lvol %s: parent chain has a cycle", lv.uuidText)
			}
		}
	}
	return nil
}

func resolveExt(resolve ExternalResolver, id string) (bdev.Device, bool) {
	if resolve == nil {
		return nil, false
	}
	dev, ok := resolve(id)
	return dev, ok && dev != nil
}
