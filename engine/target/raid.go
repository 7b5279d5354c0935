package target

import (
	"context"
	"fmt"
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
		b, ok := t.bdevs[p.Name]
		if !ok || b.raid == nil {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("raid bdev %s not found", p.Name)}
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
		return out, nil
	})
	m["bdev_raid_add_base_bdev"] = method(t, decodeRaid, req("raid_bdev", "base_bdev"), func(ctx context.Context, p *raidAddParams) (any, error) {
		return true, t.addRaidMemberLocked(p.RaidBdev, p.BaseBdev)
	})
	m["bdev_raid_grow_base_bdev"] = method(t, decodeRaid, req("raid_name", "base_name"), func(ctx context.Context, p *raidGrowParams) (any, error) {
		return true, t.addRaidMemberLocked(p.RaidName, p.BaseName)
	})
	m["bdev_raid_remove_base_bdev"] = method(t, decodeRaid, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		b, member, ok := t.raidOfMemberLocked(p.Name)
		if !ok {
			return nil, errNoDevice
		}
		if err := b.raid.RemoveMember(member); err != nil {
			return nil, syncErrorOr(err, syscall.EINVAL)
		}
		t.releaseLocked(member, "raid:"+b.name)
		b.raidMembers = remove(b.raidMembers, member)
		t.log.Info("raid member removed", "raid", b.name, "member", member)
		return true, nil
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
	switch p.RaidLevel {
	case "raid1", "1":
	default:
		return nil, fail(syscall.EINVAL) // only raid1 is implemented
	}
	if p.StripSizeKB != 0 || len(p.BaseBdevs) == 0 || p.Name == "" {
		return nil, fail(syscall.EINVAL)
	}
	if p.UUID != "" && !validUUID(p.UUID) {
		return nil, fail(syscall.EINVAL)
	}
	if t.nameTakenLocked(p.Name) {
		return nil, fail(syscall.EEXIST)
	}
	members := make([]raid1.Member, 0, len(p.BaseBdevs))
	names := make([]string, 0, len(p.BaseBdevs))
	for _, n := range p.BaseBdevs {
		v, ok := t.lookupLocked(n)
		if !ok {
			return nil, fail(syscall.ENODEV)
		}
		if t.busyLocked(v) || (v.base != nil && v.base.store != nil) {
			return nil, fail(syscall.EBUSY)
		}
		members = append(members, raid1.Member{Name: v.name, Dev: v.dev})
		names = append(names, v.name)
	}
	id := p.UUID
	if id == "" {
		id = newUUID()
	}
	name := p.Name
	r, err := raid1.New(name, members, raid1.Options{
		Log: t.log,
		OnMemberFailed: func(member string, err error) {
			t.log.Error("raid member failed", "raid", name, "member", member, "err", err)
		},
	})
	if err != nil {
		t.log.Warn("bdev_raid_create failed", "name", name, "err", err)
		return nil, fail(syscall.EINVAL)
	}
	for _, n := range names {
		t.claimLocked(n, "raid:"+name, claimExclusive)
	}
	b := &baseBdev{name: name, uuid: id, product: productRaid, dev: r, raid: r, raidMembers: names}
	b.driver = func() map[string]any {
		info := t.raidInfoLocked(b)
		delete(info, "name")
		delete(info, "uuid")
		return map[string]any{"raid": info}
	}
	t.addBaseLocked(b)
	t.log.Info("raid created", "name", name, "members", names, "size", r.Size())
	return true, nil
}

// deleteRaidLocked tears a raid down at once: its NBD exports are closed
// (as SPDK hot-removes an nbd disk whose bdev goes away) and its members
// released.
func (t *Target) deleteRaidLocked(b *baseBdev) {
	// Close first: requests held by a suspended raid then fail at once
	// instead of keeping the export (and this lock) waiting.
	if err := b.raid.Close(); err != nil {
		t.log.Warn("close raid", "raid", b.name, "err", err)
	}
	for export, bdevName := range t.exports {
		if bdevName == b.name {
			t.stopExportLocked(export)
		}
	}
	for _, mi := range b.raid.Members() {
		t.releaseLocked(mi.Name, "raid:"+b.name)
	}
	for _, n := range b.raidMembers {
		t.releaseLocked(n, "raid:"+b.name)
	}
	delete(t.claims, b.name)
	delete(t.bdevs, b.name)
	t.log.Info("raid deleted", "raid", b.name)
}

// addRaidMemberLocked adds a base bdev to a raid write-only (WO): it gets
// every new write and serves no reads until bdev_raid_set_base_bdev_state
// makes it RW (SPDK would start its own rebuild instead).
func (t *Target) addRaidMemberLocked(raidName, baseName string) error {
	b, ok := t.bdevs[raidName]
	if !ok || b.raid == nil {
		return &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: fmt.Sprintf("raid bdev %s not found", raidName)}
	}
	v, ok := t.lookupLocked(baseName)
	if !ok {
		return errNoDevice
	}
	if t.busyLocked(v) || (v.base != nil && v.base.store != nil) {
		return errnoError(syscall.EBUSY)
	}
	if err := b.raid.AddMember(raid1.Member{Name: v.name, Dev: v.dev}); err != nil {
		t.log.Warn("raid add member failed", "raid", raidName, "member", v.name, "err", err)
		return syncErrorOr(err, syscall.EINVAL)
	}
	t.claimLocked(v.name, "raid:"+b.name, claimExclusive)
	b.raidMembers = append(b.raidMembers, v.name)
	t.log.Info("raid member added (WO)", "raid", raidName, "member", v.name)
	return nil
}

// memberNameLocked maps a name the client gives (name, alias or UUID) to
// the bdev name raid members are known by.
func (t *Target) memberNameLocked(name string) string {
	if v, ok := t.lookupLocked(name); ok {
		return v.name
	}
	return name
}

func (t *Target) raidOfMemberLocked(name string) (*baseBdev, string, bool) {
	member := t.memberNameLocked(name)
	for _, b := range t.sortedBases() {
		if b.raid == nil {
			continue
		}
		for _, mi := range b.raid.Members() {
			if mi.Name == member {
				return b, member, true
			}
		}
	}
	return nil, "", false
}

// raidInfoLocked is one entry of bdev_raid_get_bdevs. Each base bdev also
// carries our extension "state": RW, WO or ERR.
func (t *Target) raidInfoLocked(b *baseBdev) map[string]any {
	members := b.raid.Members()
	operational := 0
	list := make([]map[string]any, 0, len(members))
	for _, mi := range members {
		if mi.State != raid1.StateERR {
			operational++
		}
		uuid := ""
		if v, ok := t.lookupLocked(mi.Name); ok {
			uuid = v.uuid
		}
		entry := map[string]any{
			"name":          mi.Name,
			"uuid":          uuid,
			"is_configured": mi.State != raid1.StateERR,
			"data_offset":   0,
			"data_size":     uint64(b.raid.Size()) / uint64(b.raid.BlockSize()),
			"state":         string(mi.State),
		}
		if mi.Err != "" {
			entry["error"] = mi.Err
		}
		list = append(list, entry)
	}
	state := "offline"
	if b.raid.Online() {
		state = "online"
	}
	return map[string]any{
		"name":                       b.name,
		"uuid":                       b.uuid,
		"strip_size_kb":              0,
		"state":                      state,
		"raid_level":                 "raid1",
		"superblock":                 false,
		"num_base_bdevs":             len(members),
		"num_base_bdevs_discovered":  len(members),
		"num_base_bdevs_operational": operational,
		"base_bdevs_list":            list,
	}
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
