package target

import (
	"context"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/lvstore"
)

type getBdevsParams struct {
	Name    string `json:"name"`
	Timeout uint64 `json:"timeout"`
}

// getBdevs serves bdev_get_bdevs: always an array; with a name, waits up
// to timeout ms for the bdev to appear, then -19.
func (t *Target) getBdevs(ctx context.Context, p *getBdevsParams) (any, error) {
	var deadline <-chan time.Time
	if p.Timeout > 0 {
		timer := time.NewTimer(time.Duration(p.Timeout) * time.Millisecond)
		defer timer.Stop()
		deadline = timer.C
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, errClosed
		}
		if p.Name == "" {
			out := []map[string]any{}
			for _, v := range t.listLocked() {
				out = append(out, t.describeLocked(v))
			}
			t.mu.Unlock()
			return out, nil
		}
		v, ok := t.lookupLocked(p.Name)
		if ok {
			out := []map[string]any{t.describeLocked(v)}
			t.mu.Unlock()
			return out, nil
		}
		t.mu.Unlock()
		if deadline == nil {
			return nil, errNoDevice
		}
		select {
		case <-deadline:
			// lib/bdev/bdev_rpc.c rpc_bdev_get_bdevs_wait_timeout.
			return nil, errnoError(syscall.ETIMEDOUT)
		case <-ctx.Done():
			return nil, errNoDevice
		case <-tick.C:
		}
	}
}

// describeLocked renders one bdev as SPDK's rpc_dump_bdev_info does.
func (t *Target) describeLocked(v *view) map[string]any {
	bs := v.dev.BlockSize()
	readOnly := v.lvol != nil && v.lvol.IsReadOnly()
	out := map[string]any{
		"name":                 v.name,
		"aliases":              v.aliases,
		"product_name":         v.product,
		"block_size":           bs,
		"num_blocks":           uint64(v.dev.Size()) / uint64(bs),
		"uuid":                 v.uuid,
		"zoned":                false,
		"supported_io_types":   t.supportedIOTypesLocked(v, readOnly),
		"assigned_rate_limits": t.qos[v.uuid].report(),
		// SPDK prints creation_time for every bdev ("" when the module
		// keeps none) and md_size, md_interleave and dif_type only when
		// md_size is not 0, which no refengine bdev has
		// (lib/bdev/bdev_rpc.c rpc_dump_bdev_info).
		"creation_time": "",
	}
	if d := t.memoryDomainsLocked(v); len(d) > 0 {
		out["memory_domains"] = d
	}
	claim := t.claimOf(v)
	out["claimed"] = claim != ""
	if claim != "" {
		out["claim_type"] = claim
	}
	switch {
	case v.lvol != nil:
		out["creation_time"] = v.lvol.CreationTime().UTC().Format(time.RFC3339)
		out["driver_specific"] = map[string]any{"lvol": t.lvolDriverLocked(v.lvol)}
	case v.base.driver != nil:
		out["driver_specific"] = v.base.driver()
	default:
		out["driver_specific"] = map[string]any{}
	}
	return out
}

// lvolDriverLocked is driver_specific.lvol (reference §6.2): parent and
// clones by plain lvol name, which Longhorn rebuilds its chains from.
func (t *Target) lvolDriverLocked(lv *lvstore.Lvol) map[string]any {
	s := lv.Store()
	d := map[string]any{
		"lvol_store_uuid":        s.UUID(),
		"base_bdev":              t.baseOfStore(s),
		"thin_provision":         lv.IsThin(),
		"snapshot":               lv.IsSnapshot(),
		"clone":                  lv.IsClone(),
		"esnap_clone":            lv.IsEsnapClone(),
		"num_allocated_clusters": lv.NumAllocatedClusters(),
	}
	if parent := lv.Parent(); parent != nil {
		d["base_snapshot"] = parent.Name()
	}
	if children := lv.Children(); len(children) > 0 {
		names := make([]string, len(children))
		for i, c := range children {
			names[i] = c.Name()
		}
		d["clones"] = names
	}
	if ext := lv.ExternalParent(); ext != "" {
		d["external_snapshot_name"] = ext
	}
	return d
}

// ioTypeNames are every I/O type SPDK lists in supported_io_types
// (lib/bdev/bdev.c g_io_type_strings).
var ioTypeNames = []string{
	"read", "write", "unmap", "flush", "reset", "nvme_admin", "nvme_io", "nvme_io_md", "write_zeroes",
	"zcopy", "get_zone_info", "zone_management", "zone_append", "compare", "compare_and_write", "abort",
	"seek_hole", "seek_data", "copy", "nvme_iov_md",
}

// supportedIOTypesLocked answers supported_io_types with every I/O type,
// as the SPDK module of the bdev's kind does (module/bdev/aio/bdev_aio.c,
// module/bdev/malloc/bdev_malloc.c, module/bdev/lvol/vbdev_lvol.c,
// module/bdev/raid/bdev_raid.c, lib/bdev/part.c for error bdevs, each
// *_io_type_supported), and the bdev layer emulates write_zeroes wherever
// write is supported (lib/bdev/bdev.c spdk_bdev_io_type_supported). Remote
// bdevs, refengine's own, answer read, flush and, unless read-only,
// write, unmap and write_zeroes.
func (t *Target) supportedIOTypesLocked(v *view, readOnly bool) map[string]bool {
	m := make(map[string]bool, len(ioTypeNames))
	for _, n := range ioTypeNames {
		m[n] = false
	}
	set := func(on bool, names ...string) {
		for _, n := range names {
			m[n] = on
		}
	}
	switch v.product {
	case productAio:
		fallocate := false
		if v.base != nil && v.base.driver != nil {
			if a, ok := v.base.driver()["aio"].(map[string]any); ok {
				fallocate, _ = a["fallocate"].(bool)
			}
		}
		set(true, "read", "write", "flush", "reset", "write_zeroes")
		set(fallocate, "unmap")
	case productMalloc:
		set(true, "read", "write", "flush", "reset", "unmap", "write_zeroes", "zcopy", "abort", "copy")
	case productLvol:
		set(true, "read", "flush", "reset", "seek_data", "seek_hole")
		set(!readOnly, "write", "unmap", "write_zeroes")
	case productRaid:
		// read and write always; flush, reset and unmap when every
		// present member supports them (raid1 passes them on).
		set(true, "read", "write", "write_zeroes", "flush", "reset", "unmap")
		for _, mv := range t.memberViewsLocked(v.base.raidSlots) {
			sub := t.supportedIOTypesLocked(mv, mv.lvol != nil && mv.lvol.IsReadOnly())
			for _, n := range []string{"flush", "reset", "unmap"} {
				m[n] = m[n] && sub[n]
			}
		}
	case productError:
		// The part module answers as its base, but never for NVMe
		// passthrough.
		if bv, ok := t.lookupLocked(v.base.under); ok {
			for n, on := range t.supportedIOTypesLocked(bv, bv.lvol != nil && bv.lvol.IsReadOnly()) {
				m[n] = on
			}
		}
		set(false, "nvme_admin", "nvme_io", "nvme_io_md")
	default:
		set(true, "read", "flush")
		set(!readOnly, "write", "unmap", "write_zeroes")
	}
	return m
}

// memoryDomain is one entry of a bdev's memory_domains.
type memoryDomain struct {
	ID   string `json:"dma_device_id"`
	Type int    `json:"dma_device_type"`
}

// memoryDomainsLocked lists what SPDK reports as a bdev's memory domains
// (lib/bdev/bdev_rpc.c prints the field only when there is one): a malloc
// bdev has the system's and accel's (module/bdev/malloc/bdev_malloc.c
// bdev_malloc_get_memory_domains); an lvol those of its lvstore's base and,
// for an esnap clone, of its external snapshot
// (module/bdev/lvol/vbdev_lvol.c vbdev_lvol_get_memory_domains); a raid1
// those of its configured members, in slot order
// (module/bdev/raid/bdev_raid.c raid_bdev_get_memory_domains). aio and
// error bdevs have none. refengine has no DMA: the list only answers as
// SPDK does.
func (t *Target) memoryDomainsLocked(v *view) []memoryDomain {
	switch {
	case v.product == productMalloc:
		return []memoryDomain{{"system", 1}, {"SPDK_ACCEL_DMA_DEVICE", 2}}
	case v.lvol != nil:
		var out []memoryDomain
		if bv, ok := t.lookupLocked(t.baseOfStore(v.lvol.Store())); ok {
			out = append(out, t.memoryDomainsLocked(bv)...)
		}
		if ext := v.lvol.ExternalParent(); ext != "" {
			if ev, ok := t.lookupLocked(ext); ok {
				out = append(out, t.memoryDomainsLocked(ev)...)
			}
		}
		return out
	case v.product == productRaid:
		var out []memoryDomain
		for _, mv := range t.memberViewsLocked(v.base.raidSlots) {
			out = append(out, t.memoryDomainsLocked(mv)...)
		}
		return out
	}
	return nil
}
