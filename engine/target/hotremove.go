package target

import (
	"strings"
	"syscall"
)

// Deleting a bdev that something holds does not fail in SPDK: the bdev
// layer unregisters it and tells every open descriptor through its remove
// event (lib/bdev/bdev.c bdev_unregister_unsafe, SPDK_BDEV_EVENT_REMOVE),
// and each holder lets go in its own way. hotRemoveLocked does the same
// for refengine's holders before a delete method drops the bdev:
//
//   - a raid loses the member and keeps its slot empty, as after
//     bdev_raid_remove_base_bdev; a raid left without a member goes away
//     (module/bdev/raid/bdev_raid.c raid_bdev_event_base_bdev,
//     _raid_bdev_remove_base_bdev, raid_bdev_remove_base_bdev_done);
//   - a raid still configuring forgets the member's name and keeps the
//     slot's UUID (raid_bdev_free_base_bdev_resource);
//   - an NBD export of it stops (lib/nbd/nbd.c nbd_bdev_event_cb);
//   - an error bdev over it is deleted (module/bdev/error/vbdev_error.c,
//     through the part module's base hot-remove);
//   - a shallow copy writing to it fails;
//   - an lvstore on it is unloaded, its lvols hot-removed first
//     (module/bdev/lvol/vbdev_lvol.c vbdev_lvs_hotremove_cb).
//
// The one holder that cannot let go is an esnap clone: SPDK's lvol module
// ignores the remove event of an external snapshot
// (vbdev_lvol_esnap_bdev_event_cb), so the unregister, and the RPC, would
// wait until the clone is closed. refengine answers -16 instead
// (checkRemovableLocked), before anything is touched.

// checkRemovableLocked fails with -16 when hot-removing v would leave an
// esnap clone without its external snapshot, for v itself and for the
// lvols of an lvstore on it.
func (t *Target) checkRemovableLocked(v *view) error {
	if t.isExternalParentLocked(v.uuid) {
		return errnoError(syscall.EBUSY)
	}
	if v.base != nil && v.base.store != nil {
		for _, lv := range v.base.store.Lvols() {
			if t.isExternalParentLocked(lv.UUID()) {
				return errnoError(syscall.EBUSY)
			}
		}
	}
	return nil
}

func (t *Target) isExternalParentLocked(uuid string) bool {
	for _, s := range t.stores {
		for _, lv := range s.Lvols() {
			if ext := lv.ExternalParent(); ext != "" && ext == uuid {
				return true
			}
		}
	}
	return false
}

// hotRemoveLocked makes every holder of v let go of it (see above). The
// caller has run checkRemovableLocked and deletes v afterwards.
func (t *Target) hotRemoveLocked(v *view) {
	if v.base != nil && v.base.store != nil {
		t.unloadStoreLocked(v.base)
	}
	holders := make([]string, 0, len(t.claims[v.name]))
	for h := range t.claims[v.name] {
		holders = append(holders, h)
	}
	for _, h := range holders {
		switch kind, name, _ := strings.Cut(h, ":"); kind {
		case "nbd":
			t.stopExportLocked(name)
		case "raid":
			t.dropRaidMemberLocked(name, v.name)
		case "shallow_copy":
			t.failCopiesToLocked(v.name)
		default:
			// An error bdev holds its base under its own name.
			if b, ok := t.bdevs[h]; ok && b.product == productError {
				ev := baseView(b)
				t.hotRemoveLocked(ev)
				t.dropErrorLocked(b)
			}
		}
		t.releaseLocked(v.name, h)
	}
}

// unloadStoreLocked hot-removes every lvol of the lvstore on b and unloads
// the lvstore (its metadata stays on the bdev).
func (t *Target) unloadStoreLocked(b *baseBdev) {
	s := b.store
	for _, lv := range s.Lvols() {
		if !lv.IsDegraded() {
			t.hotRemoveLocked(lvolView(lv))
		}
	}
	if err := s.Close(); err != nil {
		t.log.Error("unload lvstore", "lvstore", s.Name(), "err", err)
	}
	delete(t.stores, s.UUID())
	b.store = nil
	t.log.Info("lvstore unloaded: its base bdev is going away", "lvstore", s.Name(), "base", b.name)
}

// dropRaidMemberLocked takes member out of raid raidName, online or
// configuring, after its bdev went away.
func (t *Target) dropRaidMemberLocked(raidName, member string) {
	if pr, ok := t.configuring[raidName]; ok {
		for i, sl := range pr.slots {
			if sl.member == member {
				pr.slots[i].name, pr.slots[i].member = "", ""
			}
		}
		t.log.Info("configuring raid lost a base bdev", "raid", raidName, "member", member)
		return
	}
	b, ok := t.bdevs[raidName]
	if !ok || b.raid == nil {
		return
	}
	for slot, sl := range b.raidSlots {
		if sl.member == member {
			if err := t.removeRaidSlotLocked(b, slot); err != nil {
				t.log.Warn("raid member hot-remove", "raid", raidName, "member", member, "err", err)
			}
			return
		}
	}
}

// removeRaidSlotLocked takes the member in slot out of online raid b and
// leaves the slot empty, as SPDK's remove does; a raid1 left without any
// member is deconfigured and freed, as SPDK's is
// (raid_bdev_remove_base_bdev_done: fewer operational members than the
// one raid1 needs).
func (t *Target) removeRaidSlotLocked(b *baseBdev, slot int) error {
	member := b.raidSlots[slot].member
	if err := b.raid.RemoveMember(member); err != nil {
		return err
	}
	t.releaseLocked(member, "raid:"+b.name)
	b.raidSlots[slot] = raidSlot{}
	t.log.Info("raid member removed", "raid", b.name, "member", member)
	if len(b.raid.Members()) == 0 {
		t.deleteRaidLocked(b)
	}
	return nil
}

// failCopiesToLocked ends the shallow copies writing to bdev name: their
// destination is gone, so check_shallow_copy reports them failed.
func (t *Target) failCopiesToLocked(name string) {
	for _, op := range t.copies {
		if op.dst == name {
			op.cancel()
		}
	}
}
