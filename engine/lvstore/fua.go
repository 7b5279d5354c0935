package lvstore

import (
	"fmt"

	"github.com/faultline/faultline/engine/bdev"
)

var _ bdev.FUAWriter = (*Lvol)(nil)

// WriteAtFUA writes p at off and returns once it is durable.
//
// When lv owns every cluster of the range under durable metadata and the
// base device can make one write durable (bdev.FUAWriter), that is one
// durable write per cluster and nothing else: no other data is flushed and
// no metadata committed. Otherwise it is WriteAt then Flush, which also
// commits the allocations the write made.
//
// "Under durable metadata" means no data-path allocation or deallocation
// in lv, and no metadata operation anywhere in the store, since the last
// completed commit began (tracked per lvol and per store, not per cluster:
// an lvol that allocates takes the slow path until the next commit). A
// durable write into a cluster whose mapping could still be lost in a
// crash would not be durable at all.
func (lv *Lvol) WriteAtFUA(p []byte, off int64) (int, error) {
	if fw, ok := lv.s.dev.(bdev.FUAWriter); ok {
		lv.mu.RLock()
		if err := lv.checkWriteLocked(off, len(p)); err != nil {
			lv.mu.RUnlock()
			return 0, err
		}
		if lv.mappingDurableLocked(off, int64(len(p))) {
			err := lv.segments(off, int64(len(p)), func(ci uint32, within, lo, hi int64) error {
				_, err := fw.WriteAtFUA(p[lo:hi], lv.s.physOff(lv.clusters[ci])+within)
				return err
			})
			lv.mu.RUnlock()
			if err != nil {
				return 0, fmt.Errorf("write FUA lvol %s at %d: %w", lv.Name(), off, err)
			}
			return len(p), nil
		}
		lv.mu.RUnlock()
	}
	if _, err := lv.WriteAt(p, off); err != nil {
		return 0, err
	}
	if err := lv.Flush(); err != nil {
		return 0, fmt.Errorf("write FUA lvol %s at %d: %w", lv.Name(), off, err)
	}
	return len(p), nil
}

// mapChangedLocked records a change to lv's cluster map by the data path
// and marks the store dirty. Caller holds lv.mu exclusively.
func (lv *Lvol) mapChangedLocked() {
	lv.mapStamp = lv.s.epoch.Load()
	lv.s.dirty.Store(true)
}

// mappingDurableLocked reports whether lv owns every cluster of
// [off, off+n) and the last completed commit holds those mappings. A
// change stamped with epoch e was encoded by the commit that raised the
// epoch above e (it incremented the epoch before encoding, and the change
// held lv.mu, which the encoding waits for), so it is durable once durable
// exceeds e. Caller holds lv.mu.
func (lv *Lvol) mappingDurableLocked(off, n int64) bool {
	durable := lv.s.durable.Load()
	return lv.mapStamp < durable && lv.s.mdStamp.Load() < durable && lv.missingLocked(off, n) == 0
}
