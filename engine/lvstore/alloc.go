package lvstore

import (
	"math/bits"
	"sync"
)

// allocator hands out physical clusters. A cluster freed in memory is held
// back ("pending") until a metadata commit that no longer references it is
// durable; reusing it earlier could let new data overwrite a cluster the
// on-disk metadata still assigns to an lvol.
type allocator struct {
	mu      sync.Mutex
	used    []uint64 // bit set: allocated or pending
	total   uint32
	free    uint32 // clusters whose bit is clear
	hint    uint32
	pending []uint32
}

func newAllocator(total uint32) *allocator {
	return &allocator{used: make([]uint64, (uint64(total)+63)/64), total: total, free: total}
}

// markUsed marks a cluster allocated while loading; it reports false if it
// already was (a corrupt, doubly owned cluster).
func (a *allocator) markUsed(c uint32) bool {
	w, b := c/64, uint64(1)<<(c%64)
	if a.used[w]&b != 0 {
		return false
	}
	a.used[w] |= b
	a.free--
	return true
}

// allocLocked takes one free cluster, or reports false when none is free.
func (a *allocator) allocLocked() (uint32, bool) {
	if a.free == 0 {
		return 0, false
	}
	words := uint32(len(a.used))
	for i := uint32(0); i < words; i++ {
		w := (a.hint/64 + i) % words
		inv := ^a.used[w]
		if w == words-1 && a.total%64 != 0 {
			inv &= uint64(1)<<(a.total%64) - 1
		}
		if inv == 0 {
			continue
		}
		c := w*64 + uint32(bits.TrailingZeros64(inv))
		a.used[w] |= uint64(1) << (c % 64)
		a.free--
		a.hint = c
		return c, true
	}
	return 0, false
}

// allocN allocates n clusters or none. It holds the lock throughout, so
// concurrent callers racing for the last clusters cannot each take part
// of what they need and all fail.
func (a *allocator) allocN(n uint64) ([]uint32, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if uint64(a.free) < n {
		return nil, false
	}
	out := make([]uint32, 0, n)
	for range n {
		c, ok := a.allocLocked()
		if !ok {
			// free said otherwise: the bit set and the count disagree.
			a.releaseLocked(out)
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// release returns clusters that were never referenced by durable metadata
// (a failed allocation) straight to the free pool.
func (a *allocator) release(cs []uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(cs)
}

func (a *allocator) releaseLocked(cs []uint32) {
	for _, c := range cs {
		a.used[c/64] &^= uint64(1) << (c % 64)
		a.free++
		a.hint = min(a.hint, c) // reuse low clusters first
	}
}

// defer frees clusters once the next commit is durable.
func (a *allocator) deferFree(cs ...uint32) {
	a.mu.Lock()
	a.pending = append(a.pending, cs...)
	a.mu.Unlock()
}

// takePending hands the pending list to a commit that is about to encode.
func (a *allocator) takePending() []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending
	a.pending = nil
	return p
}

// restorePending gives a failed commit's list back.
func (a *allocator) restorePending(p []uint32) {
	a.mu.Lock()
	a.pending = append(a.pending, p...)
	a.mu.Unlock()
}

// freeCount is the number of clusters available now (pending ones count as
// free, as SPDK reports them: they become usable at the next flush).
func (a *allocator) freeCount() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return uint64(a.free) + uint64(len(a.pending))
}

func (a *allocator) availableNow() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return uint64(a.free)
}

// reservation holds clusters taken for one request before it writes
// anything, so that a request that cannot have every cluster it needs fails
// with nothing changed. release gives back those it did not use.
type reservation struct {
	a  *allocator
	cs []uint32
}

// take hands out a reserved cluster; false means the request miscounted.
func (r *reservation) take() (uint32, bool) {
	if len(r.cs) == 0 {
		return 0, false
	}
	c := r.cs[len(r.cs)-1]
	r.cs = r.cs[:len(r.cs)-1]
	return c, true
}

// put returns a taken cluster that was not published.
func (r *reservation) put(c uint32) { r.cs = append(r.cs, c) }

// release returns every cluster not taken to the free pool.
func (r *reservation) release() {
	if len(r.cs) > 0 {
		r.a.release(r.cs)
		r.cs = nil
	}
}
