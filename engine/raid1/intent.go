package raid1

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// The write-intent log, in the spirit of md raid1's bitmap: before a write
// reaches any member, the regions it touches are marked dirty in every
// member's bitmap device, durably; a region is marked clean again only after
// a flush that started once its last write had completed succeeded on every
// member, and never while a member is in ERR (the other members then keep a
// record of everything the failed one missed). After a crash, the union of
// the members' bitmaps is a superset of the regions where members can
// differ, so a resync (Activate) compares only those: its cost follows what
// was in flight, not the volume size.
//
// Each member's header also counts failure events. When a member fails, the
// count is raised on the members that remain before any write that the
// failed member lacks is acknowledged, so a member that missed writes is
// recognisable afterwards by its lower count and is never used as a resync
// source.

// intentLog is the in-memory side of the log. Lock order: pmu, then mu;
// no device I/O happens under mu.
type intentLog struct {
	regionSize int64
	regions    int64
	volumeSize int64

	mu     sync.Mutex
	active bool
	dirty  []uint64 // one bit per region, as on disk
	// setAt is the version at which a dirty region was set: a write may
	// go ahead once that version is durable.
	setAt map[int64]uint64
	// inflight counts writes in flight per region.
	inflight map[int64]int32
	// last is the flush epoch at the last start or end of a write to a
	// dirty region; a flush that began at a later epoch covers it.
	last    map[int64]uint64
	epoch   uint64
	changed map[int64]bool // bitmap pages changed since they were last written
	version uint64         // raised every time a bit is set
	events  uint64
	// headerDirty says the header (events) changed since it was written.
	headerDirty bool
	pmu         sync.Mutex // one persist at a time
	durable     uint64     // highest version written with FUA to the members
}

func newIntentLog(volumeSize, regionSize int64) *intentLog {
	n := regionsFor(volumeSize, regionSize)
	return &intentLog{
		regionSize: regionSize, regions: n, volumeSize: volumeSize,
		dirty:    make([]uint64, (n+63)/64),
		setAt:    map[int64]uint64{},
		inflight: map[int64]int32{},
		last:     map[int64]uint64{},
		changed:  map[int64]bool{},
	}
}

func (il *intentLog) span(off, length int64) (first, last int64) {
	if length <= 0 {
		length = 1
	}
	return off / il.regionSize, (off + length - 1) / il.regionSize
}

func (il *intentLog) isDirty(g int64) bool { return il.dirty[g/64]&(1<<(g%64)) != 0 }

func (il *intentLog) setDirty(g int64, on bool) {
	if on {
		il.dirty[g/64] |= 1 << (g % 64)
	} else {
		il.dirty[g/64] &^= 1 << (g % 64)
	}
	il.changed[g/bitsPerPage] = true
}

func (il *intentLog) header() intentHeader {
	return intentHeader{regionSize: il.regionSize, volumeSize: il.volumeSize, regions: il.regions, events: il.events}
}

// page renders bitmap page p as it is in memory. il.mu must be held.
func (il *intentLog) page(p int64) []byte {
	b := make([]byte, intentPage)
	first := p * intentPage / 8
	for i := range intentPage / 8 {
		if w := first + int64(i); w < int64(len(il.dirty)) {
			binary.LittleEndian.PutUint64(b[i*8:], il.dirty[w])
		}
	}
	return b
}

// dirtyCount is the number of dirty regions. il.mu must be held.
func (il *intentLog) dirtyCount() int64 {
	var n int64
	for _, w := range il.dirty {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// reset makes every region clean in memory and marks every page and the
// header for writing. il.mu must be held.
func (il *intentLog) reset(events uint64) {
	clear(il.dirty)
	clear(il.setAt)
	clear(il.last)
	for p := range bitmapPages(il.regions) {
		il.changed[p] = true
	}
	il.events = events
	il.headerDirty = true
}

// noteFailure records that a member failed: the remaining members'
// headers must carry a higher event count before the next write is
// acknowledged.
func (il *intentLog) noteFailure() {
	il.mu.Lock()
	il.events++
	il.headerDirty = true
	il.mu.Unlock()
}

// intentBegin marks the regions of a write dirty and returns once that is
// durable on the members (or an error when it is not durable anywhere).
func (r *Raid) intentBegin(off, length int64) error {
	il := r.intent
	first, last := il.span(off, length)
	il.mu.Lock()
	if !il.active {
		il.mu.Unlock()
		return fmt.Errorf("raid1 %s: write-intent log is not active: %w", r.name, syscall.EIO)
	}
	var need uint64
	for g := first; g <= last; g++ {
		il.inflight[g]++
		il.last[g] = il.epoch
		if !il.isDirty(g) {
			il.version++
			il.setDirty(g, true)
			il.setAt[g] = il.version
		}
		need = max(need, il.setAt[g])
	}
	pending := need > il.durable || il.headerDirty
	il.mu.Unlock()
	if !pending {
		return nil
	}
	if err := r.persist(need); err != nil {
		r.intentEnd(off, length)
		return err
	}
	return nil
}

// intentEnd records that a write begun with intentBegin has finished.
func (r *Raid) intentEnd(off, length int64) {
	il := r.intent
	first, last := il.span(off, length)
	il.mu.Lock()
	defer il.mu.Unlock()
	for g := first; g <= last; g++ {
		if il.inflight[g]--; il.inflight[g] <= 0 {
			delete(il.inflight, g)
		}
		il.last[g] = il.epoch
	}
}

// intentFlushStart opens a flush epoch; ok is false when the log is off.
func (r *Raid) intentFlushStart() (epoch uint64, ok bool) {
	il := r.intent
	if il == nil {
		return 0, false
	}
	il.mu.Lock()
	defer il.mu.Unlock()
	if !il.active {
		return 0, false
	}
	epoch = il.epoch
	il.epoch++
	return epoch, true
}

// intentFlushed clears the regions a flush that began at epoch covered,
// if every member is healthy, and writes the changed pages (without FUA:
// losing a clear costs a needless resync, never data). Like md's bitmap
// daemon it is lazy: a region is cleared only when no write touched it
// since before the previous flush began, so a region written over and over
// (a sequential pass, a hot spot) stays dirty instead of paying a bitmap
// write each time it is dirtied again.
func (r *Raid) intentFlushed(epoch uint64) error {
	if r.degraded() {
		return nil
	}
	il := r.intent
	il.mu.Lock()
	cleared := false
	for g, e := range il.last {
		if e < epoch && il.inflight[g] == 0 && il.isDirty(g) {
			il.setDirty(g, false)
			delete(il.setAt, g)
			delete(il.last, g)
			cleared = true
		}
	}
	// A member that turned RW still carries a header flagged rebuilding
	// until the next header write; write it now rather than at the next
	// failure.
	header := il.headerDirty
	il.mu.Unlock()
	if !cleared && !header {
		return nil
	}
	return r.persist(0)
}

// degraded reports whether a listed member is in ERR.
func (r *Raid) degraded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.members {
		if m.state == StateERR {
			return true
		}
	}
	return false
}

// persist writes the header (when its events changed) and the changed
// bitmap pages to every member in RW or WO, and returns once version want
// is durable. Writes that set bits (and header changes) go with FUA. A
// member whose bitmap cannot be written is failed; persist fails only when
// no member took the update.
func (r *Raid) persist(want uint64) error {
	il := r.intent
	il.pmu.Lock()
	defer il.pmu.Unlock()
	for {
		il.mu.Lock()
		if il.durable >= want && !il.headerDirty && len(il.changed) == 0 {
			il.mu.Unlock()
			return nil
		}
		v := il.version
		fua := v > il.durable || il.headerDirty
		var hdr headers
		if il.headerDirty {
			hdr = il.headers()
			il.headerDirty = false
		}
		pages := map[int64][]byte{}
		for p := range il.changed {
			pages[p] = il.page(p)
		}
		clear(il.changed)
		il.mu.Unlock()

		if ok := r.writeIntent(r.intentTargets(), hdr, pages, fua); ok == 0 {
			il.mu.Lock()
			if hdr.inSync != nil {
				il.headerDirty = true
			}
			for p := range pages {
				il.changed[p] = true
			}
			il.mu.Unlock()
			return fmt.Errorf("raid1 %s: write-intent bitmap written on no member: %w", r.name, syscall.EIO)
		}
		il.mu.Lock()
		il.durable = max(il.durable, v)
		il.mu.Unlock()
		// Members that failed the write raised events: loop to write the
		// header to the others.
	}
}

// intentTargets are the members whose bitmaps are kept: RW and WO.
func (r *Raid) intentTargets() []*member {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*member
	for _, m := range r.members {
		if m.state == StateRW || m.state == StateWO {
			out = append(out, m)
		}
	}
	return out
}

// headers are the two forms of the header persist writes: one for RW
// members and one, flagged rebuilding, for WO members. Both nil: no
// header change to write.
type headers struct{ inSync, rebuilding []byte }

// headers marshals the current header in both forms. il.mu must be held.
func (il *intentLog) headers() headers {
	h := il.header()
	wo := h
	wo.flags |= intentFlagRebuilding
	return headers{inSync: h.marshal(), rebuilding: wo.marshal()}
}

// writeIntent writes a header (when there is one) and bitmap pages to
// each target's bitmap device in parallel, and returns how many took all
// of it. A target that fails is marked ERR. A WO target gets the header
// flagged rebuilding.
func (r *Raid) writeIntent(targets []*member, hdr headers, pages map[int64][]byte, fua bool) int {
	order := slices.Sorted(maps.Keys(pages))
	errs := make([]error, len(targets))
	perMember := make([][]byte, len(targets))
	if hdr.inSync != nil {
		r.mu.Lock()
		for i, m := range targets {
			perMember[i] = hdr.inSync
			if m.state != StateRW {
				perMember[i] = hdr.rebuilding
			}
		}
		r.mu.Unlock()
	}
	var wg sync.WaitGroup
	for i, m := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, p := range order {
				if errs[i] = writeBlock(m.bitmap, pages[p], intentPage*(1+p), fua); errs[i] != nil {
					return
				}
			}
			if perMember[i] != nil {
				errs[i] = writeBlock(m.bitmap, perMember[i], 0, fua)
			}
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		r.markFailed(targets[i], fmt.Errorf("write-intent bitmap: %w", err))
	}
	return ok
}

// fuaWriter is a device that can make one write durable by itself (NBD's
// FUA flag); other devices get a write and a flush.
type fuaWriter interface {
	WriteAtFUA(p []byte, off int64) (int, error)
}

func writeBlock(dev bdev.Device, b []byte, off int64, fua bool) error {
	if !fua {
		_, err := dev.WriteAt(b, off)
		return err
	}
	if w, ok := dev.(fuaWriter); ok {
		_, err := w.WriteAtFUA(b, off)
		return err
	}
	if _, err := dev.WriteAt(b, off); err != nil {
		return err
	}
	return dev.Flush()
}

// IntentInfo describes the write-intent log at one instant.
type IntentInfo struct {
	// Enabled is false for a raid whose members have no bitmaps.
	Enabled bool `json:"enabled"`
	// Active is false before Activate and after Deactivate: writes are
	// refused then.
	Active       bool   `json:"active"`
	RegionSize   int64  `json:"regionSize,omitempty"`
	Regions      int64  `json:"regions,omitempty"`
	DirtyRegions int64  `json:"dirtyRegions"`
	Events       uint64 `json:"events"`
	// NoSpaceWrites counts writes that failed because no member had room.
	NoSpaceWrites uint64 `json:"noSpaceWrites"`
}

// Intent describes the write-intent log.
func (r *Raid) Intent() IntentInfo {
	il := r.intent
	if il == nil {
		return IntentInfo{NoSpaceWrites: r.noSpace.Load()}
	}
	il.mu.Lock()
	defer il.mu.Unlock()
	return IntentInfo{Enabled: true, Active: il.active, RegionSize: il.regionSize, Regions: il.regions,
		DirtyRegions: il.dirtyCount(), Events: il.events, NoSpaceWrites: r.noSpace.Load()}
}
