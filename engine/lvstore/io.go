package lvstore

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// errNeedCommit means an allocation found no free cluster but some are
// waiting for a commit; the caller drops its locks, flushes and retries.
var errNeedCommit = errors.New("free clusters wait for a metadata commit")

func (s *Store) physOff(phys uint32) int64 {
	return int64(s.sb.dataOffset + uint64(phys)*uint64(s.sb.clusterSize))
}

// usableLocked reports whether I/O may proceed; caller holds lv.mu.
func (lv *Lvol) usableLocked() error {
	switch {
	case lv.deleted || lv.s.closed.Load():
		return fmt.Errorf("lvol %s: %w", lv.name, bdev.ErrClosed)
	case lv.extUUID != "" && lv.extDev == nil:
		return errno(syscall.ENODEV, "lvol %s is degraded: external snapshot %s missing", lv.name, lv.extUUID)
	}
	return nil
}

func (lv *Lvol) checkRangeLocked(off int64, n int) error {
	size := int64(lv.numClusters * uint64(lv.s.sb.clusterSize))
	if err := bdev.CheckRange(off, int64(n), size, int(lv.s.sb.blockSize)); err != nil {
		return fmt.Errorf("lvol %s: %d bytes at %d (size %d): %w", lv.name, n, off, size, err)
	}
	return nil
}

// segments calls fn for each cluster-bounded piece [lo, hi) of
// [off, off+n), relative to off.
func (lv *Lvol) segments(off, n int64, fn func(ci uint32, within, lo, hi int64) error) error {
	cs := int64(lv.s.sb.clusterSize)
	for done := int64(0); done < n; {
		pos := off + done
		within := pos % cs
		step := min(cs-within, n-done)
		if err := fn(uint32(pos/cs), within, done, done+step); err != nil {
			return err
		}
		done += step
	}
	return nil
}

// ReadAt reads through the lvol: own clusters, then the parent chain, the
// external snapshot, or zeros.
func (lv *Lvol) ReadAt(p []byte, off int64) (int, error) {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	if err := lv.usableLocked(); err != nil {
		return 0, err
	}
	if err := lv.checkRangeLocked(off, len(p)); err != nil {
		return 0, err
	}
	err := lv.segments(off, int64(len(p)), func(ci uint32, within, lo, hi int64) error {
		return lv.readLocked(ci, within, p[lo:hi])
	})
	if err != nil {
		return 0, fmt.Errorf("read lvol %s at %d: %w", lv.name, off, err)
	}
	return len(p), nil
}

// readLocked reads part of virtual cluster ci; caller holds lv.mu.
func (lv *Lvol) readLocked(ci uint32, within int64, p []byte) error {
	if phys, ok := lv.clusters[ci]; ok {
		_, err := lv.s.dev.ReadAt(p, lv.s.physOff(phys)+within)
		return err
	}
	return lv.readBackingLocked(ci, within, p)
}

// readBackingLocked reads what lv shows where it owns no cluster.
func (lv *Lvol) readBackingLocked(ci uint32, within int64, p []byte) error {
	switch {
	case lv.parent != nil:
		par := lv.parent
		par.mu.RLock()
		defer par.mu.RUnlock()
		if uint64(ci) >= par.numClusters {
			clear(p)
			return nil
		}
		return par.readLocked(ci, within, p)
	case lv.extUUID != "":
		if lv.extDev == nil {
			return errno(syscall.ENODEV, "external snapshot %s missing", lv.extUUID)
		}
		clear(p)
		pos := int64(ci)*int64(lv.s.sb.clusterSize) + within
		if size := lv.extDev.Size(); pos < size {
			n := min(int64(len(p)), size-pos)
			if _, err := lv.extDev.ReadAt(p[:n], pos); err != nil {
				return fmt.Errorf("external snapshot %s: %w", lv.extUUID, err)
			}
		}
		return nil
	default:
		clear(p)
		return nil
	}
}

// backingIsZeroLocked reports whether cluster ci reads as zeros where lv
// owns nothing; caller holds lv.mu.
func (lv *Lvol) backingIsZeroLocked(ci uint32) bool {
	switch {
	case lv.parent != nil:
		par := lv.parent
		par.mu.RLock()
		defer par.mu.RUnlock()
		if uint64(ci) >= par.numClusters {
			return true
		}
		if _, ok := par.clusters[ci]; ok {
			return false
		}
		return par.backingIsZeroLocked(ci)
	case lv.extUUID != "":
		return false
	default:
		return true
	}
}

func (lv *Lvol) checkWriteLocked(off int64, n int) error {
	if err := lv.usableLocked(); err != nil {
		return err
	}
	if lv.readOnly {
		return fmt.Errorf("lvol %s: %w", lv.name, bdev.ErrReadOnly)
	}
	return lv.checkRangeLocked(off, n)
}

// WriteAt writes p at off. Writes to owned clusters are one pwrite each
// under the shared lock. A write that needs new clusters reserves all of
// them before it writes a byte, so it either allocates everything or fails
// with ENOSPC having changed nothing; each new cluster is filled from the
// backing chain (copy-on-write) and published once written.
func (lv *Lvol) WriteAt(p []byte, off int64) (int, error) {
	n := int64(len(p))
	lv.mu.RLock()
	if err := lv.checkWriteLocked(off, len(p)); err != nil {
		lv.mu.RUnlock()
		return 0, err
	}
	if lv.missingLocked(off, n) == 0 {
		err := lv.writeOwnedLocked(p, off)
		lv.mu.RUnlock()
		if err != nil {
			return 0, fmt.Errorf("write lvol %s at %d: %w", lv.name, off, err)
		}
		return len(p), nil
	}
	lv.mu.RUnlock()
	err := lv.exclusive(func() error {
		if err := lv.checkWriteLocked(off, len(p)); err != nil {
			return err
		}
		res, err := lv.s.reserve(lv.missingLocked(off, n))
		if err != nil {
			return err
		}
		defer res.release()
		return lv.segments(off, n, func(ci uint32, within, lo, hi int64) error {
			return lv.writeClusterLocked(ci, within, p[lo:hi], 0, res)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("write lvol %s at %d: %w", lv.Name(), off, err)
	}
	return len(p), nil
}

// WriteFromSplice writes n bytes of src at off when every cluster of the
// range is owned already and the lvstore's device takes splices
// (bdev.SpliceWriter): each piece goes straight from src into the
// cluster's place on the device, under the shared lock as in WriteAt. A
// write that must allocate, or any other, is declined with nothing taken
// from src: the caller falls back to WriteAt, which allocates and copies
// on write.
func (lv *Lvol) WriteFromSplice(src bdev.SpliceSource, n int, off int64) (bool, error) {
	dev, ok := lv.s.dev.(bdev.SpliceWriter)
	if !ok {
		return false, nil
	}
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	if err := lv.checkWriteLocked(off, n); err != nil || lv.missingLocked(off, int64(n)) != 0 {
		return false, nil // WriteAt reports the error, or allocates
	}
	err := lv.segments(off, int64(n), func(ci uint32, within, lo, hi int64) error {
		ok, err := dev.WriteFromSplice(src, int(hi-lo), lv.s.physOff(lv.clusters[ci])+within)
		if err == nil && !ok {
			err = errors.New("device declined a splice after taking one")
		}
		return err
	})
	if err != nil {
		return true, fmt.Errorf("write lvol %s at %d: %w", lv.name, off, err)
	}
	return true, nil
}

// exclusive runs fn under lv.mu, retrying after a commit when fn ran out
// of clusters while freed ones waited for that commit.
func (lv *Lvol) exclusive(fn func() error) error {
	for attempt := 0; ; attempt++ {
		lv.mu.Lock()
		err := fn()
		lv.mu.Unlock()
		if !errors.Is(err, errNeedCommit) || attempt > 0 {
			if errors.Is(err, errNeedCommit) {
				return errno(syscall.ENOSPC, "lvstore %s has too few free clusters", lv.s.Name())
			}
			return err
		}
		if err := lv.s.Flush(); err != nil {
			return err
		}
	}
}

// missingLocked counts the clusters of [off, off+n) that lv does not own.
func (lv *Lvol) missingLocked(off, n int64) uint64 {
	cs := int64(lv.s.sb.clusterSize)
	var missing uint64
	for ci := off / cs; ci <= (off+n-1)/cs; ci++ {
		if _, ok := lv.clusters[uint32(ci)]; !ok {
			missing++
		}
	}
	return missing
}

func (lv *Lvol) writeOwnedLocked(p []byte, off int64) error {
	return lv.segments(off, int64(len(p)), func(ci uint32, within, lo, hi int64) error {
		_, err := lv.s.dev.WriteAt(p[lo:hi], lv.s.physOff(lv.clusters[ci])+within)
		return err
	})
}

// writeClusterLocked writes data into cluster ci at within, or, when data
// is nil, zeroLen zero bytes. A cluster lv does not own yet comes from res.
// Caller holds lv.mu exclusively.
func (lv *Lvol) writeClusterLocked(ci uint32, within int64, data []byte, zeroLen int64, res *reservation) error {
	s := lv.s
	n := int64(len(data))
	if data == nil {
		n = zeroLen
	}
	if phys, ok := lv.clusters[ci]; ok {
		if data == nil {
			return s.dev.WriteZeroes(s.physOff(phys)+within, n)
		}
		_, err := s.dev.WriteAt(data, s.physOff(phys)+within)
		return err
	}
	phys, ok := res.take()
	if !ok {
		return fmt.Errorf("cluster %d: no reserved cluster left (allocation miscounted)", ci)
	}
	cs := int64(s.sb.clusterSize)
	var err error
	switch {
	case data == nil && lv.backingIsZeroLocked(ci):
		err = s.dev.WriteZeroes(s.physOff(phys), cs)
	case n != cs && lv.backingIsZeroLocked(ci):
		// Zero the cluster (a hole punched in a disk file) and write
		// only the data, rather than a cluster-sized buffer of zeros
		// around it: a small write costs two small operations instead of
		// a cluster's copy into the page cache, and leaves no
		// cluster-sized folio there for every later small write into
		// the cluster to walk (ext4's large folios).
		if err = s.dev.WriteZeroes(s.physOff(phys), cs); err == nil {
			_, err = s.dev.WriteAt(data, s.physOff(phys)+within)
		}
	default:
		buf := data
		if within != 0 || n != cs {
			buf = make([]byte, cs)
			if err := lv.readBackingLocked(ci, 0, buf); err != nil {
				res.put(phys)
				return fmt.Errorf("copy-on-write fill: %w", err)
			}
			if data == nil {
				clear(buf[within : within+n])
			} else {
				copy(buf[within:], data)
			}
		} else if data == nil {
			buf = make([]byte, cs)
		}
		_, err = s.dev.WriteAt(buf, s.physOff(phys))
	}
	if err != nil {
		res.put(phys)
		return err
	}
	// Publish only after the fill is written: a commit that sees the
	// mapping flushes the data before it writes the metadata.
	lv.clusters[ci] = phys
	lv.mapChangedLocked()
	return nil
}

// reserve takes n clusters for one request, all or none. It returns
// errNeedCommit when enough would be free once freed clusters are
// committed, and ENOSPC when not even that would do.
func (s *Store) reserve(n uint64) (*reservation, error) {
	r := &reservation{a: s.alloc}
	if n == 0 {
		return r, nil
	}
	if cs, ok := s.alloc.allocN(n); ok {
		r.cs = cs
		return r, nil
	}
	if free := s.alloc.freeCount(); free < n {
		return nil, errno(syscall.ENOSPC, "lvstore %s: need %d free clusters, %d free", s.Name(), n, free)
	}
	return nil, errNeedCommit
}

// Flush makes completed writes to the lvol durable (it flushes the store).
func (lv *Lvol) Flush() error {
	lv.mu.RLock()
	err := lv.usableLocked()
	lv.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := lv.s.Flush(); err != nil {
		return fmt.Errorf("flush lvol %s: %w", lv.Name(), err)
	}
	return nil
}

// Unmap behaves as WriteZeroes: the range reads as zeros afterwards.
func (lv *Lvol) Unmap(off, length int64) error { return lv.WriteZeroes(off, length) }

// WriteZeroes makes a range read as zeros. Whole clusters of a thin lvol
// whose backing reads as zeros are deallocated; elsewhere zeros are
// written, allocating a cluster where the backing holds data. As with
// WriteAt, every cluster it allocates is reserved before anything changes.
func (lv *Lvol) WriteZeroes(off, length int64) error {
	if length < 0 || length > 1<<62 {
		return fmt.Errorf("write zeroes lvol %s: length %d: %w", lv.Name(), length, bdev.ErrOutOfRange)
	}
	cs := int64(lv.s.sb.clusterSize)
	err := lv.exclusive(func() error {
		if err := lv.checkWriteLocked(off, 0); err != nil {
			return err
		}
		size := int64(lv.numClusters) * cs
		if length > size-off || length%int64(lv.s.sb.blockSize) != 0 {
			return fmt.Errorf("lvol %s: %d bytes at %d: %w", lv.name, length, off, bdev.ErrOutOfRange)
		}
		res, err := lv.s.reserve(lv.zeroAllocsLocked(off, length))
		if err != nil {
			return err
		}
		defer res.release()
		return lv.segments(off, length, func(ci uint32, within, lo, hi int64) error {
			return lv.zeroClusterLocked(ci, within, hi-lo, res)
		})
	})
	if err != nil {
		return fmt.Errorf("write zeroes lvol %s at %d+%d: %w", lv.Name(), off, length, err)
	}
	return nil
}

// zeroAllocsLocked counts the clusters zeroing [off, off+length) must
// allocate: those lv does not own over a backing that holds data.
func (lv *Lvol) zeroAllocsLocked(off, length int64) uint64 {
	var need uint64
	_ = lv.segments(off, length, func(ci uint32, _, _, _ int64) error {
		if _, owned := lv.clusters[ci]; !owned && !lv.backingIsZeroLocked(ci) {
			need++
		}
		return nil
	})
	return need
}

// zeroClusterLocked zeroes n bytes of cluster ci at within: it drops the
// cluster when the lvol is thin and would read zeros without it, skips it
// when it is not owned and the backing reads zeros, and writes zeros
// otherwise. Caller holds lv.mu exclusively.
func (lv *Lvol) zeroClusterLocked(ci uint32, within, n int64, res *reservation) error {
	phys, owned := lv.clusters[ci]
	if n == int64(lv.s.sb.clusterSize) && lv.thin && lv.backingIsZeroLocked(ci) {
		if owned {
			delete(lv.clusters, ci)
			lv.s.alloc.deferFree(phys)
			lv.mapChangedLocked()
		}
		return nil
	}
	if !owned && lv.backingIsZeroLocked(ci) {
		return nil
	}
	return lv.writeClusterLocked(ci, within, nil, n, res)
}
