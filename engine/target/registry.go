package target

import (
	"sort"
	"strings"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/lvstore"
	"github.com/faultline/faultline/engine/raid1"
)

// Product names as SPDK reports them in bdev_get_bdevs.
const (
	productAio    = "AIO disk"
	productMalloc = "Malloc disk"
	productLvol   = "Logical Volume"
	productRaid   = "Raid Volume"
	productRemote = "Remote NBD disk" // extension
)

// Claim types as SPDK prints them.
const (
	claimExclusive = "exclusive_write"
	claimReadOnly  = "read_many_write_none"
	// claimLvstore is how the lvol module claims an lvstore's base bdev
	// (module/blob/bdev/blob_bdev.c spdk_bs_bdev_claim, writable).
	claimLvstore = "read_many_write_one"
)

// baseBdev is a bdev the target created directly (everything but lvols,
// which live in their lvstore and are listed from it).
type baseBdev struct {
	seq     uint64
	name    string
	uuid    string
	product string
	dev     bdev.Device
	// driver returns the driver_specific object.
	driver func() map[string]any
	// store is the lvstore found on (or created on) this bdev, if any.
	store *lvstore.Store
	// raid is set for raid bdevs.
	raid *raid1.Raid
	// raidSlots are the raid's base bdev slots in order, for
	// bdev_raid_get_bdevs: like SPDK, a removed member leaves an empty slot
	// that add_base_bdev fills again.
	raidSlots []raidSlot
	// deltaBitmap is bdev_raid_create's delta_bitmap (Longhorn's fork),
	// reported back as delta_bitmap_enabled.
	deltaBitmap bool
	// rebuild is the rebuild add_base_bdev started, while it runs;
	// guarded by Target.mu.
	rebuild *raidProcess
	// under is the bdev an error bdev passes its I/O to.
	under string
	// ioBoundary is a malloc bdev's optimal_io_boundary, in blocks (0:
	// none).
	ioBoundary uint32
}

// view is one bdev as bdev_get_bdevs shows it.
type view struct {
	name    string
	aliases []string
	uuid    string
	product string
	dev     bdev.Device
	base    *baseBdev     // nil for lvols
	lvol    *lvstore.Lvol // nil for others
}

func (t *Target) sortedBases() []*baseBdev {
	out := make([]*baseBdev, 0, len(t.bdevs))
	for _, b := range t.bdevs {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (t *Target) sortedStores() []*lvstore.Store {
	out := make([]*lvstore.Store, 0, len(t.stores))
	for _, s := range t.stores {
		out = append(out, s)
	}
	// Creation order (SPDK keeps lvstores in a list as created or
	// loaded); stores not yet noted come last, by name.
	sort.Slice(out, func(i, j int) bool {
		si, oki := t.lvolSeq[out[i].UUID()]
		sj, okj := t.lvolSeq[out[j].UUID()]
		if oki != okj {
			return oki
		}
		if si != sj {
			return si < sj
		}
		return out[i].Name() < out[j].Name()
	})
	return out
}

// baseView is a base bdev as listed. Like every SPDK bdev whose name is
// not its UUID, it carries the UUID as an alias (lib/bdev/bdev.c
// bdev_register).
func baseView(b *baseBdev) *view {
	aliases := []string{}
	if b.uuid != "" && b.uuid != b.name {
		aliases = append(aliases, b.uuid)
	}
	return &view{name: b.name, aliases: aliases, uuid: b.uuid, product: b.product, dev: b.dev, base: b}
}

func lvolView(lv *lvstore.Lvol) *view {
	return &view{name: lv.UUID(), aliases: []string{lv.Alias()}, uuid: lv.UUID(), product: productLvol, dev: lv, lvol: lv}
}

// noteLvolsLocked gives every lvstore and lvol not yet seen the next
// numbers of the creation sequence (lvols in their lvstore's creation
// order) and forgets deleted ones. Every locked method runs it on return, so an lvol created by a
// method is placed before any bdev a later method creates.
func (t *Target) noteLvolsLocked() {
	seen := make(map[string]bool, len(t.lvolSeq))
	stores := t.sortedStores()
	for _, s := range stores {
		seen[s.UUID()] = true
		if _, ok := t.lvolSeq[s.UUID()]; !ok {
			t.seq++
			t.lvolSeq[s.UUID()] = t.seq
		}
	}
	for _, s := range stores {
		for _, lv := range s.Lvols() {
			id := lv.UUID()
			seen[id] = true
			if _, ok := t.lvolSeq[id]; !ok {
				t.seq++
				t.lvolSeq[id] = t.seq
			}
		}
	}
	for id := range t.lvolSeq {
		if !seen[id] {
			delete(t.lvolSeq, id)
		}
	}
}

// listLocked returns every bdev in creation order, as SPDK lists them in
// registration order (degraded lvols have no bdev).
func (t *Target) listLocked() []*view {
	t.noteLvolsLocked()
	type entry struct {
		seq uint64
		v   *view
	}
	var all []entry
	for _, b := range t.sortedBases() {
		all = append(all, entry{b.seq, baseView(b)})
	}
	for _, s := range t.sortedStores() {
		for _, lv := range s.Lvols() {
			if !lv.IsDegraded() {
				all = append(all, entry{t.lvolSeq[lv.UUID()], lvolView(lv)})
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	out := make([]*view, len(all))
	for i, e := range all {
		out[i] = e.v
	}
	return out
}

// lookupLocked finds a bdev by name, alias or UUID.
func (t *Target) lookupLocked(name string) (*view, bool) {
	if name == "" {
		return nil, false
	}
	if b, ok := t.bdevs[name]; ok {
		return baseView(b), true
	}
	if lv, ok := t.findLvolLocked(name); ok && !lv.IsDegraded() {
		return lvolView(lv), true
	}
	for _, b := range t.bdevs {
		if b.uuid == name {
			return baseView(b), true
		}
	}
	return nil, false
}

// findLvolLocked finds an lvol, degraded ones included, by UUID or by its
// "lvs/lvol" alias.
func (t *Target) findLvolLocked(name string) (*lvstore.Lvol, bool) {
	if lvs, lvName, ok := strings.Cut(name, "/"); ok {
		s, ok := t.storeByNameLocked(lvs)
		if !ok {
			return nil, false
		}
		lv, err := s.Lvol(lvName)
		if err != nil || lv.Name() != lvName {
			return nil, false
		}
		return lv, true
	}
	for _, s := range t.stores {
		for _, lv := range s.Lvols() {
			if lv.UUID() == name {
				return lv, true
			}
		}
	}
	return nil, false
}

func (t *Target) storeByNameLocked(name string) (*lvstore.Store, bool) {
	for _, s := range t.stores {
		if s.Name() == name {
			return s, true
		}
	}
	return nil, false
}

// baseOfStore is the bdev an lvstore lives on.
func (t *Target) baseOfStore(s *lvstore.Store) string {
	for _, b := range t.bdevs {
		if b.store == s {
			return b.name
		}
	}
	return ""
}

// claimLocked records that holder uses bdev name.
func (t *Target) claimLocked(name, holder, typ string) {
	m := t.claims[name]
	if m == nil {
		m = map[string]string{}
		t.claims[name] = m
	}
	m[holder] = typ
}

func (t *Target) releaseLocked(name, holder string) {
	delete(t.claims[name], holder)
	if len(t.claims[name]) == 0 {
		delete(t.claims, name)
	}
}

// claimOf returns the claim type of a bdev, or "" when it is not claimed.
// An external snapshot of an esnap clone is claimed read-only by the lvol
// module for as long as the clone exists.
func (t *Target) claimOf(v *view) string {
	if m := t.claims[v.name]; len(m) > 0 {
		holders := make([]string, 0, len(m))
		for h := range m {
			holders = append(holders, h)
		}
		sort.Strings(holders)
		return m[holders[0]]
	}
	if t.isExternalParentLocked(v.uuid) {
		return claimReadOnly
	}
	if v.base != nil && v.base.store != nil {
		return claimLvstore // the lvstore's base bdev
	}
	return ""
}

// busyLocked reports whether a bdev may not be deleted: someone other than
// its lvstore holds it.
func (t *Target) busyLocked(v *view) bool {
	if len(t.claims[v.name]) > 0 {
		return true
	}
	return t.isExternalParentLocked(v.uuid)
}

// resolverLocked returns an ExternalResolver over a snapshot of the
// registry, so lvstore may call it without the target's lock.
func (t *Target) resolverLocked() lvstore.ExternalResolver {
	devs := map[string]bdev.Device{}
	for _, v := range t.listLocked() {
		devs[v.uuid] = v.dev
	}
	return func(uuid string) (bdev.Device, bool) {
		d, ok := devs[uuid]
		return d, ok
	}
}

// announceLocked tells the lvstores with a degraded esnap clone waiting
// for this bdev that it appeared, so the clone comes back.
func (t *Target) announceLocked(uuid string, dev bdev.Device) {
	for _, s := range t.stores {
		for _, lv := range s.Lvols() {
			if lv.IsDegraded() && lv.ExternalParent() == uuid {
				s.ResolveExternal(uuid, dev)
				t.log.Info("degraded esnap clone resolved", "lvol", lv.Alias(), "external", uuid)
				break
			}
		}
	}
}

func (t *Target) addBaseLocked(b *baseBdev) {
	t.seq++
	b.seq = t.seq
	t.bdevs[b.name] = b
	t.announceLocked(b.uuid, b.dev)
}

// nameTakenLocked reports whether a new bdev name collides with a bdev
// name, alias or UUID.
func (t *Target) nameTakenLocked(name string) bool {
	_, ok := t.lookupLocked(name)
	return ok
}
