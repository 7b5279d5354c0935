package raid1

import "sync"

// Overlapping writes are serialised so that every member applies them in
// the same order. Without this, two concurrent writes to one block can land
// A-then-B on one member and B-then-A on another: both writes are
// acknowledged, the replicas diverge, and reads that are spread over the
// members return different data for the same block.
const (
	lockRegionShift = 16  // 64 KiB regions
	lockStripes     = 256 // regions hash onto this many mutexes
)

// rangeLock serialises writes whose byte ranges share a 64 KiB region.
// Unrelated writes that hash onto the same stripe also wait for each other,
// which costs a little concurrency and never correctness. Locks are taken
// in stripe order, so two multi-region writes cannot deadlock.
type rangeLock struct {
	stripes [lockStripes]sync.Mutex
}

// lock locks every stripe the range [off, off+length) touches and returns
// the function that unlocks them. A zero-length range locks nothing.
func (l *rangeLock) lock(off, length int64) (unlock func()) {
	if length <= 0 {
		return func() {}
	}
	first := off >> lockRegionShift
	last := (off + length - 1) >> lockRegionShift
	if first == last { // the common case: one region, one mutex
		m := &l.stripes[first%lockStripes]
		m.Lock()
		return m.Unlock
	}
	var held [lockStripes]bool
	n := 0
	for r := first; r <= last && n < lockStripes; r++ {
		s := int(r % lockStripes)
		if !held[s] {
			held[s] = true
			n++
		}
	}
	for s := range lockStripes {
		if held[s] {
			l.stripes[s].Lock()
		}
	}
	return func() {
		for s := range lockStripes {
			if held[s] {
				l.stripes[s].Unlock()
			}
		}
	}
}
