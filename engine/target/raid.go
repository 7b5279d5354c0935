package target

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"syscall"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/raid1"
)

type raidCreateParams struct {
	Name        string   `json:"name"`
	RaidLevel   string   `json:"raid_level"`
	BaseBdevs   []string `json:"base_bdevs"`
	StripSizeKB uint32   `json:"strip_size_kb"`
	UUID        string   `json:"uuid"`
	Superblock  bool     `json:"superblock"`
	// DeltaBitmap is Longhorn's fork's field, which its rpc.py always
	// sends; refengine's raid1 keeps its own write-intent bitmap either way.
	DeltaBitmap bool `json:"delta_bitmap"`
}

// raidSlot is one base bdev slot of a raid. An empty slot (name "") is
// what SPDK leaves behind bdev_raid_remove_base_bdev: name null, zero UUID.
type raidSlot struct {
	name   string // as the caller passed it, echoed like SPDK does
	member string // the bdev's own name, which raid1 knows the member by
	uuid   string
	// dataSize is the slot's data_size while the raid is configuring
	// (the bdev's blocks); an online raid1 reports its own size.
	dataSize uint64
}

// zeroUUID is how SPDK prints an empty slot's UUID.
const zeroUUID = "00000000-0000-0000-0000-000000000000"

type raidMemberStatesParams struct {
	Name string `json:"name"`
}

type raidDeleteParams struct {
	Name    string `json:"name"`
	ClearSB bool   `json:"clear_sb"`
}

type raidCategoryParams struct {
	Category string `json:"category"`
}

type raidAddParams struct {
	RaidBdev string `json:"raid_bdev"`
	BaseBdev string `json:"base_bdev"`
	// WriteOnly is refengine's extension: keep the new member WO, with no
	// rebuild, until bdev_raid_set_base_bdev_state makes it RW (a caller
	// that copies the data itself). SPDK has no such parameter.
	WriteOnly bool `json:"write_only"`
}

// raidProcess is a rebuild in progress, reported as SPDK's "process".
type raidProcess struct {
	target string // the slot's name
	done   atomic.Int64
}

type raidGrowParams struct {
	RaidName string `json:"raid_name"`
	BaseName string `json:"base_name"`
}

type raidStateParams struct {
	RaidName string `json:"raid_name"`
	BaseBdev string `json:"base_bdev"`
	State    string `json:"state"`
}

func (t *Target) raidHandlers(m map[string]jsonrpc.Handler) {
	m["bdev_raid_create"] = method(t, decodeRaid, req("name", "raid_level", "base_bdevs"), t.createRaid)
	m["bdev_raid_delete"] = method(t, decodeRaid, req("name"), func(ctx context.Context, p *raidDeleteParams) (any, error) {
		if pr, ok := t.configuring[p.Name]; ok {
			t.deleteConfiguringLocked(pr)
			return true, nil
		}
		b, ok := t.bdevs[p.Name]
		if !ok || b.raid == nil {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("raid bdev %s not found", p.Name)}
		}
		if err := t.checkRemovableLocked(baseView(b)); err != nil {
			return nil, err
		}
		t.deleteRaidLocked(b)
		return true, nil
	})
	m["bdev_raid_get_bdevs"] = method(t, decodeRaid, req("category"), func(ctx context.Context, p *raidCategoryParams) (any, error) {
		switch p.Category {
		case "all", "online", "configuring", "offline":
		default:
			return nil, errInval
		}
		out := []map[string]any{}
		for _, b := range t.sortedBases() {
			if b.raid == nil {
				continue
			}
			info := t.raidInfoLocked(b)
			if p.Category == "all" || info["state"] == p.Category {
				out = append(out, info)
			}
		}
		if p.Category == "all" || p.Category == "configuring" {
			for _, pr := range t.sortedConfiguring() {
				out = append(out, t.configuringInfoLocked(pr))
			}
		}
		return out, nil
	})
	// SPDK decodes add_base_bdev's params with -32603, not -32700
	// (module/bdev/raid/bdev_raid_rpc.c).
	m["bdev_raid_add_base_bdev"] = method(t, jsonrpc.CodeInternalError, req("raid_bdev", "base_bdev"), func(ctx context.Context, p *raidAddParams) (any, error) {
		if pr, ok := t.configuring[p.RaidBdev]; ok {
			if e := t.addConfiguringLocked(pr, p.BaseBdev); e != 0 {
				return nil, raidAddError(p, e)
			}
			return true, nil
		}
		b, ok := t.bdevs[p.RaidBdev]
		if !ok || b.raid == nil {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("raid bdev %s is not found in config", p.RaidBdev)}
		}
		if b.rebuild != nil {
			return nil, raidAddError(p, syscall.EPERM) // SPDK: the raid is in process
		}
		slot := emptySlot(b)
		if slot < 0 {
			// SPDK's add only fills a slot a remove left; grow appends.
			return nil, raidAddError(p, syscall.EINVAL)
		}
		if e := t.addRaidMemberLocked(b, slot, p.BaseBdev); e != 0 {
			return nil, raidAddError(p, e)
		}
		if !p.WriteOnly {
			t.startRebuildLocked(b, slot)
		}
		return true, nil
	})
	m["bdev_raid_grow_base_bdev"] = method(t, decodeRaid, req("raid_name", "base_name"), func(ctx context.Context, p *raidGrowParams) (any, error) {
		b, ok := t.bdevs[p.RaidName]
		_, waiting := t.configuring[p.RaidName]
		if !waiting && (!ok || b.raid == nil) {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("raid bdev %s not found", p.RaidName)}
		}
		v, ok := t.lookupLocked(p.BaseName)
		if !ok {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("base bdev %s not found", p.BaseName)}
		}
		if waiting {
			// SPDK grows only an online raid.
			return nil, &jsonrpc.Error{Code: -int(syscall.EINVAL), Message: fmt.Sprintf("Failed to grow raid %s adding base bdev %s: %s", p.RaidName, p.BaseName, strerror(syscall.EINVAL))}
		}
		for _, sl := range b.raidSlots {
			if sl.member == v.name {
				return true, nil // already a member: SPDK answers true
			}
		}
		slot := emptySlot(b)
		if slot < 0 {
			b.raidSlots = append(b.raidSlots, raidSlot{})
			slot = len(b.raidSlots) - 1
		}
		if e := t.addRaidMemberLocked(b, slot, p.BaseName); e != 0 {
			if slot == len(b.raidSlots)-1 && b.raidSlots[slot].name == "" {
				b.raidSlots = b.raidSlots[:slot]
			}
			// SPDK reports grow failures from its completion: -32603.
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: strerror(e)}
		}
		// SPDK's grow configures the new member with skip_rebuild: it is
		// taken as in sync and serves reads at once, so the member is RW
		// straight away, not WO as after add_base_bdev.
		member := b.raidSlots[slot].member
		if err := b.raid.SetMemberState(member, raid1.StateRW); err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
		}
		return true, nil
	})
	m["bdev_raid_remove_base_bdev"] = method(t, decodeRaid, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		fail := func(e syscall.Errno) error {
			return &jsonrpc.Error{Code: -int(e), Message: "Failed to remove base bdev from raid bdev"}
		}
		if pr, i, ok := t.configuringOfMemberLocked(p.Name); ok {
			// A raid that is not online forgets the name but, like SPDK
			// (raid_bdev_free_base_bdev_resource), keeps the slot's UUID.
			t.releaseLocked(pr.slots[i].member, "raid:"+pr.name)
			pr.slots[i].name, pr.slots[i].member = "", ""
			return true, nil
		}
		b, slot, ok := t.raidOfMemberLocked(p.Name)
		if !ok {
			return nil, fail(syscall.ENODEV)
		}
		if err := t.removeRaidSlotLocked(b, slot); err != nil {
			e, ok := errnoOf(err)
			if !ok {
				e = syscall.EINVAL
			}
			return nil, fail(e)
		}
		return true, nil
	})
	// bdev_raid_get_member_states is refengine's extension: each slot's
	// raid1 state (RW, WO, ERR, or "" for an empty slot) and the error
	// that failed it, which SPDK's raid output has no field for.
	m["bdev_raid_get_member_states"] = method(t, decodeRaid, req("name"), func(ctx context.Context, p *raidMemberStatesParams) (any, error) {
		b, ok := t.bdevs[p.Name]
		if !ok || b.raid == nil {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("raid bdev %s not found", p.Name)}
		}
		infos := memberInfos(b)
		out := make([]map[string]any, 0, len(b.raidSlots))
		for _, sl := range b.raidSlots {
			e := map[string]any{"name": nil, "state": ""}
			if sl.name != "" {
				e["name"] = sl.name
				if mi, ok := infos[sl.member]; ok {
					e["state"] = string(mi.State)
					if mi.Err != "" {
						e["error"] = mi.Err
					}
				}
			}
			out = append(out, e)
		}
		return out, nil
	})
	m["bdev_raid_set_base_bdev_state"] = method(t, decodeRaid, req("raid_name", "base_bdev", "state"), func(ctx context.Context, p *raidStateParams) (any, error) {
		b, ok := t.bdevs[p.RaidName]
		if !ok || b.raid == nil {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("raid bdev %s not found", p.RaidName)}
		}
		state := raid1.State(p.State)
		if state != raid1.StateRW && state != raid1.StateWO {
			return nil, errInval
		}
		member := t.memberNameLocked(p.BaseBdev)
		if err := b.raid.SetMemberState(member, state); err != nil {
			return nil, syncErrorOr(err, syscall.ENODEV)
		}
		t.log.Info("raid member state set", "raid", b.name, "member", member, "state", state)
		return true, nil
	})
}

func (t *Target) createRaid(ctx context.Context, p *raidCreateParams) (any, error) {
	fail := func(e syscall.Errno) error {
		return &jsonrpc.Error{Code: -int(e), Message: fmt.Sprintf("Failed to create RAID bdev %s: %s", p.Name, strerror(e))}
	}
	// SPDK decodes uuid with spdk_json_decode_uuid: a bad one fails the
	// whole decode.
	if p.UUID != "" && !validUUID(p.UUID) {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: "spdk_json_decode_object failed"}
	}
	for _, n := range p.BaseBdevs {
		if n == "" {
			return nil, &jsonrpc.Error{Code: -int(syscall.EINVAL), Message: "The base bdev name cannot be empty: " + strerror(syscall.EINVAL)}
		}
	}
	switch p.RaidLevel {
	case "raid1", "1":
	default:
		return nil, fail(syscall.EINVAL) // only raid1 is implemented
	}
	if p.StripSizeKB != 0 || len(p.BaseBdevs) == 0 || p.Name == "" {
		return nil, fail(syscall.EINVAL)
	}
	if t.nameTakenLocked(p.Name) {
		return nil, fail(syscall.EEXIST)
	}
	if p.Superblock {
		// refengine's raid1 writes no on-disk superblock; refusing beats
		// reporting one that is not there (a deliberate difference).
		return nil, fail(syscall.EOPNOTSUPP)
	}
	if _, ok := t.configuring[p.Name]; ok {
		return nil, fail(syscall.EEXIST)
	}
	slots := make([]raidSlot, 0, len(p.BaseBdevs))
	seen := map[string]bool{}
	missing := false
	for _, n := range p.BaseBdevs {
		v, ok := t.lookupLocked(n)
		if !ok {
			// SPDK keeps the slot and waits for the bdev (examine).
			slots = append(slots, raidSlot{name: n})
			missing = true
			continue
		}
		// SPDK's claim of a bdev another module (or this raid, for a
		// repeated name) holds fails with -EPERM.
		if seen[v.name] || t.busyLocked(v) || (v.base != nil && v.base.store != nil) {
			return nil, fail(syscall.EPERM)
		}
		seen[v.name] = true
		slots = append(slots, raidSlot{name: n, member: v.name, uuid: v.uuid, dataSize: blocks(v)})
	}
	pr := &pendingRaid{name: p.Name, uuid: p.UUID, deltaBitmap: p.DeltaBitmap, slots: slots}
	if missing {
		for _, sl := range slots {
			if sl.member != "" {
				t.claimLocked(sl.member, "raid:"+pr.name, claimExclusive)
			}
		}
		t.seq++
		pr.seq = t.seq
		t.configuring[pr.name] = pr
		t.log.Info("raid configuring: base bdevs missing", "name", pr.name, "base_bdevs", p.BaseBdevs)
		return true, nil
	}
	if pr.deltaBitmap && t.minIOBoundaryLocked(slots) == 0 {
		// Longhorn's raid1_start (module/bdev/raid/raid1.c): the delta
		// bitmap tracks regions of the members' optimal I/O boundary, so
		// without one it cannot be enabled.
		t.log.Warn("bdev_raid_create: no optimal I/O boundary for raid bdev, delta bitmap cannot be enabled", "name", pr.name)
		return nil, fail(syscall.EINVAL)
	}
	if err := t.startRaidLocked(pr); err != nil {
		t.log.Warn("bdev_raid_create failed", "name", pr.name, "err", err)
		return nil, fail(syscall.EINVAL)
	}
	return true, nil
}

// minIOBoundaryLocked is the smallest optimal I/O boundary (in blocks) of
// the raid members in slots, as raid1_start computes it; 0 when one has
// none.
func (t *Target) minIOBoundaryLocked(slots []raidSlot) uint32 {
	lowest, seen := uint32(0), false
	for _, v := range t.memberViewsLocked(slots) {
		if b := t.ioBoundaryLocked(v); !seen || b < lowest {
			lowest, seen = b, true
		}
	}
	return lowest
}

// memberViewsLocked is the bdevs of the filled slots, in slot order.
func (t *Target) memberViewsLocked(slots []raidSlot) []*view {
	var out []*view
	for _, sl := range slots {
		if v, ok := t.lookupLocked(sl.member); ok {
			out = append(out, v)
		}
	}
	return out
}

// ioBoundaryLocked is a bdev's optimal I/O boundary in blocks, as SPDK
// sets it: a malloc bdev's as created, an lvol's its cluster
// (module/bdev/lvol/vbdev_lvol.c _create_lvol_disk), a raid1's its
// members' smallest; aio, error and remote bdevs have none.
func (t *Target) ioBoundaryLocked(v *view) uint32 {
	switch {
	case v.lvol != nil:
		return uint32(v.lvol.Store().ClusterSize() / uint64(v.dev.BlockSize()))
	case v.product == productMalloc:
		return v.base.ioBoundary
	case v.product == productRaid:
		return t.minIOBoundaryLocked(v.base.raidSlots)
	}
	return 0
}

// pendingRaid is a raid created before all its base bdevs exist: SPDK's
// "configuring" state. It is no bdev yet; its present members are claimed,
// and it comes online (startRaidLocked) once the others appear.
type pendingRaid struct {
	seq         uint64
	name, uuid  string // uuid "" when none was asked for
	deltaBitmap bool
	slots       []raidSlot
	lastErr     string // the last failure to start, logged once
}

// blocks is a bdev's size in blocks, a slot's data_size in SPDK.
func blocks(v *view) uint64 {
	return uint64(v.dev.Size()) / uint64(v.dev.BlockSize())
}

// startRaidLocked builds the raid1 over every slot of pr, claims its
// members and registers it.
func (t *Target) startRaidLocked(pr *pendingRaid) error {
	members := make([]raid1.Member, 0, len(pr.slots))
	for _, sl := range pr.slots {
		v, ok := t.lookupLocked(sl.member)
		if !ok {
			return fmt.Errorf("raid %s: member %s gone", pr.name, sl.name)
		}
		members = append(members, raid1.Member{Name: v.name, Dev: v.dev})
	}
	id := pr.uuid
	if id == "" {
		id = newUUID()
	}
	name := pr.name
	r, err := raid1.New(name, members, raid1.Options{
		Log: t.log,
		OnMemberFailed: func(member string, err error) {
			t.log.Error("raid member failed", "raid", name, "member", member, "err", err)
		},
	})
	if err != nil {
		return fmt.Errorf("raid %s: %w", name, err)
	}
	slots := append([]raidSlot(nil), pr.slots...)
	for _, sl := range slots {
		t.claimLocked(sl.member, "raid:"+name, claimExclusive)
	}
	b := &baseBdev{name: name, uuid: id, product: productRaid, dev: r, raid: r, raidSlots: slots, deltaBitmap: pr.deltaBitmap}
	b.driver = func() map[string]any {
		info := t.raidInfoLocked(b)
		delete(info, "name") // SPDK's driver_specific.raid keeps the uuid
		return map[string]any{"raid": info}
	}
	t.addBaseLocked(b)
	t.log.Info("raid created", "name", name, "size", r.Size())
	return nil
}

// settleConfiguringLocked does what SPDK's examine does for raids that
// wait for base bdevs: a bdev whose name is a waiting slot's joins it
// (when it can be claimed), and a raid with every slot filled comes
// online. The method handlers call it after each call that succeeded.
func (t *Target) settleConfiguringLocked() {
	for _, pr := range t.configuring {
		full := true
		for i, sl := range pr.slots {
			if sl.member != "" {
				continue
			}
			if sl.name == "" {
				full = false
				continue
			}
			// SPDK matches a new bdev by its name only, not an alias.
			v, ok := t.lookupLocked(sl.name)
			if !ok || v.name != sl.name || t.busyLocked(v) || (v.base != nil && v.base.store != nil) {
				full = false
				continue
			}
			t.claimLocked(v.name, "raid:"+pr.name, claimExclusive)
			pr.slots[i] = raidSlot{name: sl.name, member: v.name, uuid: v.uuid, dataSize: blocks(v)}
		}
		if !full {
			continue
		}
		if _, taken := t.bdevs[pr.name]; taken || t.nameTakenLocked(pr.name) {
			continue
		}
		if err := t.startRaidLocked(pr); err != nil {
			if err.Error() != pr.lastErr {
				pr.lastErr = err.Error()
				t.log.Warn("configuring raid cannot start", "raid", pr.name, "err", err)
			}
			continue
		}
		delete(t.configuring, pr.name)
	}
}

// sortedConfiguring lists the waiting raids in creation order.
func (t *Target) sortedConfiguring() []*pendingRaid {
	out := make([]*pendingRaid, 0, len(t.configuring))
	for _, pr := range t.configuring {
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// configuringOfMemberLocked finds the waiting raid and slot that hold
// bdev name.
func (t *Target) configuringOfMemberLocked(name string) (*pendingRaid, int, bool) {
	member := t.memberNameLocked(name)
	for _, pr := range t.sortedConfiguring() {
		for i, sl := range pr.slots {
			if sl.member != "" && sl.member == member {
				return pr, i, true
			}
		}
	}
	return nil, 0, false
}

// addConfiguringLocked is bdev_raid_add_base_bdev on a waiting raid
// (module/bdev/raid/bdev_raid.c raid_bdev_add_base_bdev): the bdev takes
// the slot a remove left with its UUID, else a slot with neither name nor
// UUID; a missing bdev is -19 (and waited for).
func (t *Target) addConfiguringLocked(pr *pendingRaid, baseName string) syscall.Errno {
	v, ok := t.lookupLocked(baseName)
	slot := -1
	if ok {
		for i, sl := range pr.slots {
			if sl.name == "" && sl.uuid == v.uuid {
				slot = i
				break
			}
		}
	}
	if slot < 0 {
		for i, sl := range pr.slots {
			if sl.name == "" && sl.uuid == "" {
				slot = i
				break
			}
		}
	}
	if slot < 0 {
		return syscall.EINVAL
	}
	if !ok {
		// SPDK answers -19 but keeps the name in a configuring raid's
		// slot, and takes the bdev when it appears.
		pr.slots[slot].name = baseName
		return syscall.ENODEV
	}
	if t.busyLocked(v) || (v.base != nil && v.base.store != nil) {
		return syscall.EPERM
	}
	t.claimLocked(v.name, "raid:"+pr.name, claimExclusive)
	pr.slots[slot] = raidSlot{name: baseName, member: v.name, uuid: v.uuid, dataSize: blocks(v)}
	return 0
}

// deleteConfiguringLocked drops a raid that never came online.
func (t *Target) deleteConfiguringLocked(pr *pendingRaid) {
	for _, sl := range pr.slots {
		if sl.member != "" {
			t.releaseLocked(sl.member, "raid:"+pr.name)
		}
	}
	delete(t.configuring, pr.name)
	t.log.Info("configuring raid deleted", "raid", pr.name)
}

// configuringInfoLocked is bdev_raid_get_bdevs' entry for a raid that
// waits for base bdevs (module/bdev/raid/bdev_raid.c,
// raid_bdev_write_info_json): no uuid until one is given or it registers.
func (t *Target) configuringInfoLocked(pr *pendingRaid) map[string]any {
	discovered := 0
	list := make([]map[string]any, 0, len(pr.slots))
	for _, sl := range pr.slots {
		entry := map[string]any{"name": nil, "uuid": zeroUUID, "is_configured": sl.member != ""}
		if sl.name != "" {
			entry["name"] = sl.name
		}
		if sl.uuid != "" {
			entry["uuid"] = sl.uuid
		}
		if sl.member != "" {
			discovered++
		}
		entry["delta_bitmap_state"] = "none"
		entry["data_offset"] = 0
		entry["data_size"] = sl.dataSize
		list = append(list, entry)
	}
	id := pr.uuid
	if id == "" {
		id = zeroUUID
	}
	return map[string]any{
		"name":                       pr.name,
		"uuid":                       id,
		"strip_size_kb":              0,
		"state":                      "configuring",
		"raid_level":                 "raid1",
		"superblock":                 false,
		"num_base_bdevs":             len(pr.slots),
		"num_base_bdevs_discovered":  discovered,
		"num_base_bdevs_operational": len(pr.slots),
		"delta_bitmap_enabled":       pr.deltaBitmap,
		"base_bdevs_list":            list,
	}
}

// deleteRaidLocked tears a raid down at once: its I/O stops, whatever
// holds it lets go (hotRemoveLocked: its NBD exports stop, as SPDK
// hot-removes an nbd disk whose bdev goes away; an lvstore on it is
// unloaded) and its members are released.
func (t *Target) deleteRaidLocked(b *baseBdev) {
	// Close first: requests held by a suspended raid then fail at once
	// instead of keeping an export's connection (and so this lock)
	// waiting while the export stops.
	if err := b.raid.Close(); err != nil {
		t.log.Warn("close raid", "raid", b.name, "err", err)
	}
	t.hotRemoveLocked(baseView(b))
	for _, mi := range b.raid.Members() {
		t.releaseLocked(mi.Name, "raid:"+b.name)
	}
	for _, sl := range b.raidSlots {
		if sl.member != "" {
			t.releaseLocked(sl.member, "raid:"+b.name)
		}
	}
	delete(t.claims, b.name)
	delete(t.bdevs, b.name)
	t.log.Info("raid deleted", "raid", b.name)
}

// addRaidMemberLocked puts base bdev baseName in slot of raid b,
// write-only (WO): it gets every new write and serves no reads until
// bdev_raid_set_base_bdev_state makes it RW (SPDK would start its own
// rebuild instead). It returns the errno SPDK would fail with, or 0.
func (t *Target) addRaidMemberLocked(b *baseBdev, slot int, baseName string) syscall.Errno {
	v, ok := t.lookupLocked(baseName)
	if !ok {
		return syscall.ENODEV
	}
	if t.busyLocked(v) || (v.base != nil && v.base.store != nil) {
		return syscall.EPERM // SPDK: the claim fails
	}
	if err := b.raid.AddMember(raid1.Member{Name: v.name, Dev: v.dev}); err != nil {
		t.log.Warn("raid add member failed", "raid", b.name, "member", v.name, "err", err)
		if e, ok := errnoOf(err); ok {
			return e
		}
		return syscall.EINVAL
	}
	t.claimLocked(v.name, "raid:"+b.name, claimExclusive)
	b.raidSlots[slot] = raidSlot{name: baseName, member: v.name, uuid: v.uuid}
	t.log.Info("raid member added (WO)", "raid", b.name, "member", v.name, "slot", slot)
	return 0
}

// startRebuildLocked copies the raid's data to the WO member in slot and
// makes it RW, in the background, as SPDK's add_base_bdev does on an
// online raid. The rebuild stops by itself if the member is removed or
// the raid deleted (raid1.Rebuild).
func (t *Target) startRebuildLocked(b *baseBdev, slot int) {
	sl := b.raidSlots[slot]
	proc := &raidProcess{target: sl.name}
	b.rebuild = proc
	r := b.raid
	go func() {
		err := r.Rebuild(context.Background(), sl.member, func(done int64) { proc.done.Store(done) })
		t.mu.Lock()
		if b.rebuild == proc {
			b.rebuild = nil
		}
		t.mu.Unlock()
		if err != nil {
			t.log.Warn("raid rebuild stopped", "raid", b.name, "member", sl.member, "err", err)
			return
		}
		t.log.Info("raid rebuild done", "raid", b.name, "member", sl.member)
	}()
}

// raidAddError is bdev_raid_add_base_bdev's synchronous failure.
func raidAddError(p *raidAddParams, e syscall.Errno) error {
	return &jsonrpc.Error{Code: -int(e), Message: fmt.Sprintf("Failed to add base bdev %s to RAID bdev %s: %s", p.BaseBdev, p.RaidBdev, strerror(e))}
}

// emptySlot is the first slot a remove emptied, or -1.
func emptySlot(b *baseBdev) int {
	for i, sl := range b.raidSlots {
		if sl.name == "" {
			return i
		}
	}
	return -1
}

// memberInfos indexes raid1's members by name.
func memberInfos(b *baseBdev) map[string]raid1.MemberInfo {
	out := map[string]raid1.MemberInfo{}
	for _, mi := range b.raid.Members() {
		out[mi.Name] = mi
	}
	return out
}

// memberNameLocked maps a name the client gives (name, alias or UUID) to
// the bdev name raid members are known by.
func (t *Target) memberNameLocked(name string) string {
	if v, ok := t.lookupLocked(name); ok {
		return v.name
	}
	return name
}

// raidOfMemberLocked finds the raid and slot that hold bdev name.
func (t *Target) raidOfMemberLocked(name string) (*baseBdev, int, bool) {
	member := t.memberNameLocked(name)
	for _, b := range t.sortedBases() {
		if b.raid == nil {
			continue
		}
		for i, sl := range b.raidSlots {
			if sl.member != "" && sl.member == member {
				return b, i, true
			}
		}
	}
	return nil, 0, false
}

// raidInfoLocked is one entry of bdev_raid_get_bdevs with SPDK's fields
// (module/bdev/raid/bdev_raid.c raid_bdev_write_info_json). raid1
// states map onto SPDK's: a WO member is configured but, like SPDK's
// rebuild target, not yet operational; an ERR member is not configured.
// The states themselves are served by bdev_raid_get_member_states.
func (t *Target) raidInfoLocked(b *baseBdev) map[string]any {
	infos := memberInfos(b)
	dataSize := uint64(b.raid.Size()) / uint64(b.raid.BlockSize())
	discovered, operational := 0, 0
	list := make([]map[string]any, 0, len(b.raidSlots))
	for _, sl := range b.raidSlots {
		entry := map[string]any{"name": nil, "uuid": zeroUUID, "is_configured": false}
		if sl.name != "" {
			mi, listed := infos[sl.member]
			configured := listed && mi.State != raid1.StateERR
			if configured {
				discovered++
			}
			if listed && mi.State == raid1.StateRW {
				operational++
			}
			entry["name"] = sl.name
			entry["uuid"] = sl.uuid
			entry["is_configured"] = configured
		}
		entry["delta_bitmap_state"] = "none"
		entry["data_offset"] = 0
		entry["data_size"] = dataSize
		list = append(list, entry)
	}
	state := "offline"
	if b.raid.Online() {
		state = "online"
	}
	info := map[string]any{
		"name":                       b.name,
		"uuid":                       b.uuid,
		"strip_size_kb":              0,
		"state":                      state,
		"raid_level":                 "raid1",
		"superblock":                 false,
		"num_base_bdevs":             len(b.raidSlots),
		"num_base_bdevs_discovered":  discovered,
		"num_base_bdevs_operational": operational,
		"delta_bitmap_enabled":       b.deltaBitmap,
		"base_bdevs_list":            list,
	}
	if p := b.rebuild; p != nil {
		done := p.done.Load()
		info["process"] = map[string]any{
			"type":   "rebuild",
			"target": p.target,
			"progress": map[string]any{
				"blocks":  uint64(done) / uint64(b.raid.BlockSize()),
				"percent": uint32(done * 100 / b.raid.Size()),
			},
		}
	}
	return info
}
