package lvstore

import (
	"fmt"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/bdev"
)

// clustersFor rounds a byte size up to whole clusters.
func (s *Store) clustersFor(size uint64) (uint64, error) {
	cs := uint64(s.sb.clusterSize)
	n := size/cs + min(size%cs, 1)
	if n > maxLvolClusters {
		return 0, errno(syscall.EINVAL, "size %d exceeds the maximum of %d clusters", size, uint64(maxLvolClusters))
	}
	return n, nil
}

// liveLocked checks that lv still belongs to s; caller holds mdMu.
func (s *Store) liveLocked(lv *Lvol) error {
	if lv == nil || lv.s != s || lv.deleted {
		return errno(syscall.ENODEV, "lvol not found in lvstore %s", s.name)
	}
	return nil
}

// allocLocked allocates n clusters, committing first if freed clusters
// wait for a commit. Caller holds mdMu.
func (s *Store) allocLocked(n uint64) ([]uint32, error) {
	if n == 0 {
		return nil, nil
	}
	if cs, ok := s.alloc.allocN(n); ok {
		return cs, nil
	}
	if s.alloc.freeCount() >= n {
		if err := s.commitLocked(); err != nil {
			return nil, err
		}
		if cs, ok := s.alloc.allocN(n); ok {
			return cs, nil
		}
	}
	return nil, errno(syscall.ENOSPC, "need %d clusters, %d free", n, s.alloc.freeCount())
}

func (s *Store) newLvol(name string, n uint64) (*Lvol, error) {
	id, err := newUUID()
	if err != nil {
		return nil, err
	}
	return &Lvol{
		s:           s,
		id:          id,
		uuidText:    id.String(),
		name:        name,
		thin:        true,
		numClusters: n,
		created:     time.Now().UnixNano(),
		clusters:    make(map[uint32]uint32),
		xattrs:      make(map[string]string),
	}, nil
}

func (s *Store) checkNewName(name string, extra int) error {
	if err := checkName("lvol", name); err != nil {
		return err
	}
	if s.nameTaken(name) {
		return errno(syscall.EEXIST, "lvol %s already exists in lvstore %s", name, s.name)
	}
	return s.checkRoom(lvolFixedLen + len(name) + extra)
}

// CreateLvol creates an lvol of size bytes rounded up to whole clusters.
// A thick lvol gets all its clusters now, zeroed.
func (s *Store) CreateLvol(name string, size uint64, thin bool) (*Lvol, error) {
	var lv *Lvol
	err := s.mdOp(fmt.Sprintf("create lvol %s", name), func() error {
		if err := s.checkNewName(name, 0); err != nil {
			return err
		}
		n, err := s.clustersFor(size)
		if err != nil {
			return err
		}
		if lv, err = s.newLvol(name, n); err != nil {
			return err
		}
		lv.thin = thin
		if !thin {
			phys, err := s.allocLocked(n)
			if err != nil {
				return err
			}
			for i, p := range phys {
				if err := s.dev.WriteZeroes(s.physOff(p), int64(s.sb.clusterSize)); err != nil {
					s.alloc.release(phys)
					return fmt.Errorf("zero cluster: %w", err)
				}
				lv.clusters[uint32(i)] = p
			}
		}
		s.addLvol(lv)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lv, nil
}

// Snapshot moves lv's clusters into a new read-only lvol that takes lv's
// old parent; lv becomes its thin, empty child and keeps name and UUID.
// I/O to lv is frozen during the swap.
func (s *Store) Snapshot(lv *Lvol, name string, xattrs map[string]string) (*Lvol, error) {
	var snap *Lvol
	err := s.mdOp(fmt.Sprintf("snapshot lvol %s as %s", lvName(lv), name), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		if lv.readOnly {
			return errno(syscall.EINVAL, "lvol %s is read-only", lv.name)
		}
		extra := len(lv.extUUID)
		for k, v := range xattrs {
			if err := checkXattr(k, v); err != nil {
				return err
			}
			extra += 3 + len(k) + len(v)
		}
		if len(xattrs) > maxXattrs {
			return errno(syscall.EINVAL, "%d xattrs exceed %d", len(xattrs), maxXattrs)
		}
		if err := s.checkNewName(name, extra); err != nil {
			return err
		}
		var err error
		if snap, err = s.newLvol(name, 0); err != nil {
			return err
		}
		for k, v := range xattrs {
			snap.xattrs[k] = v
		}
		snap.readOnly, snap.snapshot = true, true
		lv.mu.Lock()
		// The snapshot keeps the origin's flags, thin provisioning
		// included, as SPDK's does (invalid_flags copied); the origin
		// becomes a thin clone.
		snap.thin = lv.thin
		snap.numClusters = lv.numClusters
		snap.clusters, lv.clusters = lv.clusters, make(map[uint32]uint32)
		snap.parent, snap.extUUID, snap.extDev = lv.parent, lv.extUUID, lv.extDev
		lv.parent, lv.extUUID, lv.extDev, lv.thin = snap, "", nil, true
		lv.mu.Unlock()
		s.addLvol(snap)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

func lvName(lv *Lvol) string {
	if lv == nil {
		return "<nil>"
	}
	return lv.Name()
}

// Clone creates a thin child of a read-only lvol.
func (s *Store) Clone(snap *Lvol, name string) (*Lvol, error) {
	var lv *Lvol
	err := s.mdOp(fmt.Sprintf("clone %s as %s", lvName(snap), name), func() error {
		if err := s.liveLocked(snap); err != nil {
			return err
		}
		if !snap.readOnly {
			return errno(syscall.EINVAL, "lvol %s is not read-only", snap.name)
		}
		if err := s.checkNewName(name, 0); err != nil {
			return err
		}
		var err error
		if lv, err = s.newLvol(name, snap.numClusters); err != nil {
			return err
		}
		lv.parent = snap
		s.addLvol(lv)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lv, nil
}

// checkExternal validates an external snapshot bdev for lv (nil for a new
// clone).
func (s *Store) checkExternal(ext bdev.Device, extUUID string, lv *Lvol) error {
	switch {
	case ext == nil:
		return errno(syscall.ENODEV, "external bdev %s does not exist", extUUID)
	case extUUID == "" || len(extUUID) > maxExtLen:
		return errno(syscall.EINVAL, "external bdev uuid %q must be 1-%d bytes", extUUID, maxExtLen)
	case lv != nil && extUUID == lv.uuidText:
		return errno(syscall.EINVAL, "external bdev has the uuid of lvol %s", lv.name)
	case ext.Size() <= 0 || ext.Size()%int64(s.sb.clusterSize) != 0:
		return errno(syscall.EINVAL, "external bdev size %d is not a multiple of the cluster size %d", ext.Size(), s.sb.clusterSize)
	case ext.BlockSize() <= 0 || int(s.sb.blockSize)%ext.BlockSize() != 0:
		return errno(syscall.EINVAL, "external bdev block size %d does not divide %d", ext.BlockSize(), s.sb.blockSize)
	}
	if el, ok := ext.(*Lvol); ok && el.s == s {
		return errno(syscall.EINVAL, "bdev is an lvol in the same lvstore; use Clone")
	}
	s.topoMu.RLock()
	_, isLvol := s.lvols[extUUID]
	s.topoMu.RUnlock()
	if isLvol {
		return errno(syscall.EINVAL, "bdev %s is an lvol in the same lvstore; use Clone", extUUID)
	}
	return nil
}

// CloneExternal creates a thin lvol backed by an external bdev, recorded by
// extUUID; its size is the external bdev's.
func (s *Store) CloneExternal(ext bdev.Device, extUUID, name string) (*Lvol, error) {
	var lv *Lvol
	err := s.mdOp(fmt.Sprintf("clone external bdev %s as %s", extUUID, name), func() error {
		if err := s.checkExternal(ext, extUUID, nil); err != nil {
			return err
		}
		if err := s.checkNewName(name, len(extUUID)); err != nil {
			return err
		}
		var err error
		if lv, err = s.newLvol(name, uint64(ext.Size())/uint64(s.sb.clusterSize)); err != nil {
			return err
		}
		lv.extUUID, lv.extDev = extUUID, ext
		s.registerExt(extUUID, ext)
		s.addLvol(lv)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lv, nil
}

func (s *Store) registerExt(id string, dev bdev.Device) {
	s.topoMu.Lock()
	s.ext[id] = dev
	s.topoMu.Unlock()
}

// isAncestor reports whether a is on b's parent chain; caller holds mdMu.
func isAncestor(a, b *Lvol) bool {
	for p := b.parent; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

// SetParent re-points thin lvol lv at snapshot snap (metadata only). Errors
// follow SPDK's blobstore: EINVAL for self, thick, non-snapshot or size
// mismatch, EEXIST when snap already is the parent, EBUSY during a copy.
func (s *Store) SetParent(lv, snap *Lvol) error {
	return s.mdOp(fmt.Sprintf("set parent of %s to %s", lvName(lv), lvName(snap)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		if err := s.liveLocked(snap); err != nil {
			return errno(syscall.EINVAL, "parent is not an lvol of lvstore %s", s.name)
		}
		switch {
		case snap == lv:
			return errno(syscall.EINVAL, "lvol %s cannot be its own parent", lv.name)
		case lv.parent == snap:
			return errno(syscall.EEXIST, "%s already is the parent of %s", snap.name, lv.name)
		case !lv.thin:
			return errno(syscall.EINVAL, "lvol %s is not thin-provisioned", lv.name)
		case !snap.readOnly:
			return errno(syscall.EINVAL, "lvol %s is not a snapshot", snap.name)
		case lv.numClusters != snap.numClusters:
			return errno(syscall.EINVAL, "lvol %s has %d clusters, snapshot %s has %d", lv.name, lv.numClusters, snap.name, snap.numClusters)
		case isAncestor(lv, snap):
			return errno(syscall.EINVAL, "lvol %s is an ancestor of %s", lv.name, snap.name)
		case lv.busy > 0 || snap.busy > 0:
			return errno(syscall.EBUSY, "a copy of %s or %s is in progress", lv.name, snap.name)
		}
		lv.mu.Lock()
		lv.parent, lv.extUUID, lv.extDev = snap, "", nil
		lv.mu.Unlock()
		return nil
	})
}

// SetParentExternal re-points thin lvol lv at an external bdev.
func (s *Store) SetParentExternal(lv *Lvol, ext bdev.Device, extUUID string) error {
	return s.mdOp(fmt.Sprintf("set external parent of %s to %s", lvName(lv), extUUID), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		if err := s.checkExternal(ext, extUUID, lv); err != nil {
			return err
		}
		switch {
		case lv.extUUID == extUUID:
			return errno(syscall.EEXIST, "%s already is the external parent of %s", extUUID, lv.name)
		case !lv.thin:
			return errno(syscall.EINVAL, "lvol %s is not thin-provisioned", lv.name)
		case lv.busy > 0:
			return errno(syscall.EBUSY, "a copy of %s is in progress", lv.name)
		}
		if err := s.checkRoom(len(extUUID) - len(lv.extUUID)); err != nil {
			return err
		}
		s.registerExt(extUUID, ext)
		lv.mu.Lock()
		lv.parent, lv.extUUID, lv.extDev = nil, extUUID, ext
		lv.mu.Unlock()
		return nil
	})
}

// DetachParent drops lv's parent link without copying: clusters lv does
// not own read as zeros afterwards.
func (s *Store) DetachParent(lv *Lvol) error {
	return s.mdOp(fmt.Sprintf("detach parent of %s", lvName(lv)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		lv.mu.Lock()
		lv.parent, lv.extUUID, lv.extDev = nil, "", nil
		lv.mu.Unlock()
		return nil
	})
}

// DecoupleParent copies into lv the clusters its parent owns (and that lv
// does not) and makes lv a child of its grandparent. An esnap clone is
// inflated instead, as SPDK does.
func (s *Store) DecoupleParent(lv *Lvol) error {
	return s.mdOp(fmt.Sprintf("decouple parent of %s", lvName(lv)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		if lv.busy > 0 {
			return errno(syscall.EBUSY, "a copy of %s is in progress", lv.name)
		}
		par := lv.parent
		switch {
		case par == nil && lv.extUUID == "":
			return errno(syscall.EINVAL, "lvol %s has no parent", lv.name)
		case par == nil:
			return s.inflateLocked(lv)
		}
		// Clusters to copy: those the parent owns, and those beyond the
		// parent's end that the grandparent would otherwise show through.
		var need []uint32
		lv.mu.RLock()
		par.mu.RLock()
		for ci := uint64(0); ci < lv.numClusters; ci++ {
			if _, own := lv.clusters[uint32(ci)]; own {
				continue
			}
			if _, ok := par.clusters[uint32(ci)]; ok || (ci >= par.numClusters && !par.backingIsZeroLocked(uint32(ci))) {
				need = append(need, uint32(ci))
			}
		}
		par.mu.RUnlock()
		lv.mu.RUnlock()
		if err := lv.materialize(need); err != nil {
			return err
		}
		lv.mu.Lock()
		lv.parent, lv.extUUID, lv.extDev = par.parent, par.extUUID, par.extDev
		lv.dropChecksumLocked()
		lv.mu.Unlock()
		return nil
	})
}

// Inflate allocates every cluster of lv, filled with what it reads now,
// and removes every parent dependency; lv becomes thick.
func (s *Store) Inflate(lv *Lvol) error {
	return s.mdOp(fmt.Sprintf("inflate %s", lvName(lv)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		if lv.busy > 0 {
			return errno(syscall.EBUSY, "a copy of %s is in progress", lv.name)
		}
		return s.inflateLocked(lv)
	})
}

func (s *Store) inflateLocked(lv *Lvol) error {
	if lv.extUUID != "" && lv.extDev == nil {
		return errno(syscall.ENODEV, "lvol %s is degraded", lv.name)
	}
	var need []uint32
	lv.mu.RLock()
	for ci := uint64(0); ci < lv.numClusters; ci++ {
		if _, own := lv.clusters[uint32(ci)]; !own {
			need = append(need, uint32(ci))
		}
	}
	lv.mu.RUnlock()
	if err := lv.materialize(need); err != nil {
		return err
	}
	lv.mu.Lock()
	lv.parent, lv.extUUID, lv.extDev, lv.thin = nil, "", nil, false
	lv.dropChecksumLocked()
	lv.mu.Unlock()
	return nil
}

// materialize gives lv its own copy of clusters cis, filled with what lv
// reads there now. Clusters are allocated first, since a commit needs every
// lvol lock; lv.mu is then held while copying. Caller holds mdMu, not lv.mu.
func (lv *Lvol) materialize(cis []uint32) error {
	s := lv.s
	phys, err := s.allocLocked(uint64(len(cis)))
	if err != nil {
		return err
	}
	lv.mu.Lock()
	defer lv.mu.Unlock()
	cs := int64(s.sb.clusterSize)
	buf := make([]byte, cs)
	used := 0
	for _, ci := range cis {
		if _, own := lv.clusters[ci]; own {
			continue // written meanwhile
		}
		p := phys[used]
		if lv.backingIsZeroLocked(ci) {
			err = s.dev.WriteZeroes(s.physOff(p), cs)
		} else if err = lv.readBackingLocked(ci, 0, buf); err == nil {
			_, err = s.dev.WriteAt(buf, s.physOff(p))
		}
		if err != nil {
			s.alloc.release(phys[used:])
			return fmt.Errorf("copy cluster %d: %w", ci, err)
		}
		lv.clusters[ci] = p
		used++
		s.dirty.Store(true)
	}
	s.alloc.release(phys[used:])
	return nil
}

// SetReadOnly makes lv read-only (it can then be cloned).
func (s *Store) SetReadOnly(lv *Lvol) error {
	return s.mdOp(fmt.Sprintf("set %s read-only", lvName(lv)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		lv.mu.Lock()
		lv.readOnly = true
		lv.mu.Unlock()
		return nil
	})
}

// Resize changes lv's size, rounded up to whole clusters. Shrinking frees
// the clusters beyond the end; growing a thick lvol allocates zeroed ones.
func (s *Store) Resize(lv *Lvol, size uint64) error {
	return s.mdOp(fmt.Sprintf("resize %s to %d", lvName(lv), size), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		n, err := s.clustersFor(size)
		if err != nil {
			return err
		}
		if lv.readOnly {
			return errno(syscall.EPERM, "lvol %s is read-only", lv.name)
		}
		var phys []uint32
		if !lv.thin && n > lv.numClusters {
			if phys, err = s.allocLocked(n - lv.numClusters); err != nil {
				return err
			}
			for _, p := range phys {
				if err := s.dev.WriteZeroes(s.physOff(p), int64(s.sb.clusterSize)); err != nil {
					s.alloc.release(phys)
					return fmt.Errorf("zero cluster: %w", err)
				}
			}
		}
		lv.mu.Lock()
		defer lv.mu.Unlock()
		for ci, p := range lv.clusters {
			if uint64(ci) >= n {
				delete(lv.clusters, ci)
				s.alloc.deferFree(p)
			}
		}
		for i, p := range phys {
			lv.clusters[uint32(lv.numClusters)+uint32(i)] = p
		}
		lv.numClusters = n
		return nil
	})
}

// RenameLvol changes lv's name; its UUID stays.
func (s *Store) RenameLvol(lv *Lvol, name string) error {
	return s.mdOp(fmt.Sprintf("rename lvol %s to %s", lvName(lv), name), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		if lv.name == name {
			return nil
		}
		if err := checkName("lvol", name); err != nil {
			return err
		}
		if s.nameTaken(name) {
			return errno(syscall.EEXIST, "lvol %s already exists in lvstore %s", name, s.name)
		}
		if err := s.checkRoom(len(name) - len(lv.name)); err != nil {
			return err
		}
		s.topoMu.Lock()
		delete(s.byName, lv.name)
		s.byName[name] = lv
		s.topoMu.Unlock()
		lv.mu.Lock()
		lv.name = name
		lv.mu.Unlock()
		return nil
	})
}

// Delete removes lv and frees its clusters. An lvol with more than one
// clone cannot be deleted (EPERM); with exactly one, the clone takes lv's
// clusters where it has none and lv's parent (merge, no data copy).
func (s *Store) Delete(lv *Lvol) error {
	return s.mdOp(fmt.Sprintf("delete lvol %s", lvName(lv)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		kids := s.childrenLocked(lv)
		if len(kids) > 1 {
			return errno(syscall.EPERM, "lvol %s has %d clones", lv.name, len(kids))
		}
		if lv.busy > 0 || (len(kids) == 1 && kids[0].busy > 0) {
			return errno(syscall.EBUSY, "a copy involving %s is in progress", lv.name)
		}
		if len(kids) == 1 {
			if err := s.mergeLocked(lv, kids[0]); err != nil {
				return err
			}
		} else {
			lv.mu.Lock()
			for _, p := range lv.clusters {
				s.alloc.deferFree(p)
			}
			lv.clusters, lv.deleted = nil, true
			lv.mu.Unlock()
		}
		s.removeLvol(lv)
		return nil
	})
}

// mergeLocked folds snapshot lv into its only child c.
func (s *Store) mergeLocked(lv, c *Lvol) error {
	// Beyond lv's end c reads zeros today; keep it so if lv's parent
	// would show data there after the merge.
	var need []uint32
	c.mu.RLock()
	lv.mu.RLock()
	for ci := lv.numClusters; ci < c.numClusters; ci++ {
		if _, own := c.clusters[uint32(ci)]; !own && !lv.backingIsZeroLocked(uint32(ci)) {
			need = append(need, uint32(ci))
		}
	}
	lv.mu.RUnlock()
	c.mu.RUnlock()
	if err := c.materialize(need); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lv.mu.Lock()
	defer lv.mu.Unlock()
	for ci, p := range lv.clusters {
		if _, own := c.clusters[ci]; !own && uint64(ci) < c.numClusters {
			c.clusters[ci] = p
		} else {
			s.alloc.deferFree(p)
		}
	}
	c.parent, c.extUUID, c.extDev = lv.parent, lv.extUUID, lv.extDev
	c.dropChecksumLocked()
	lv.clusters, lv.deleted = nil, true
	return nil
}

// SetXattr sets an xattr on lv.
func (s *Store) SetXattr(lv *Lvol, key, value string) error {
	return s.mdOp(fmt.Sprintf("set xattr %s of %s", key, lvName(lv)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		return s.setXattrLocked(lv, key, value)
	})
}

// setXattrLocked sets an xattr on live lv. Caller holds mdMu.
func (s *Store) setXattrLocked(lv *Lvol, key, value string) error {
	if err := checkXattr(key, value); err != nil {
		return err
	}
	old, had := lv.xattrs[key]
	delta := len(value) - len(old)
	if !had {
		delta += 3 + len(key)
		if len(lv.xattrs) >= maxXattrs {
			return errno(syscall.ENOSPC, "lvol %s has %d xattrs (max %d)", lv.name, len(lv.xattrs), maxXattrs)
		}
	}
	if err := s.checkRoom(delta); err != nil {
		return err
	}
	lv.mu.Lock()
	lv.xattrs[key] = value
	lv.mu.Unlock()
	return nil
}

// GetXattr returns an xattr of lv, ENOENT when unset.
func (s *Store) GetXattr(lv *Lvol, key string) (string, error) {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	if lv.deleted || lv.s != s {
		return "", errno(syscall.ENODEV, "lvol not found in lvstore %s", s.Name())
	}
	v, ok := lv.xattrs[key]
	if !ok {
		return "", errno(syscall.ENOENT, "lvol %s has no xattr %s", lv.name, key)
	}
	return v, nil
}

// ResolveExternal supplies an external snapshot bdev that was missing:
// esnap clones recorded with uuid stop being degraded.
func (s *Store) ResolveExternal(uuid string, dev bdev.Device) {
	if dev == nil {
		return
	}
	s.mdMu.Lock()
	defer s.mdMu.Unlock()
	s.registerExt(uuid, dev)
	for _, lv := range s.snapshotLvols() {
		if lv.extUUID == uuid {
			lv.mu.Lock()
			lv.extDev = dev
			lv.mu.Unlock()
		}
	}
}
