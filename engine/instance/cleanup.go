package instance

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/engine/improto"
)

// Defect switches for the space and leak bugs outside testing found.
const (
	// DefectRebuildSnapshotKept keeps every rebuild snapshot: each rebuild
	// leaves one on every replica and the disk fills.
	DefectRebuildSnapshotKept = "rebuild-snapshot-kept"
	// DefectRebuildLeftoversKept deletes a replica by walking its head's
	// chain only and never collects what an interrupted rebuild left: the
	// rebuilding lvol, copied snapshots not yet under the head, heads of
	// replicas the manager forgot.
	DefectRebuildLeftoversKept = "rebuild-leftovers-kept"
)

// Suffixes of the lvols a replica owns besides its head.
const (
	snapInfix       = "-snap-"
	rebuildingSufx  = "-rebuilding"
	bitmapSufx      = "-bitmap"
	rebuildSnapPfx  = "rebuild-"
	replicaInfix    = "-r-"
	replicaIDLength = 8
)

// ownerCandidates returns the replica names an lvol name could belong to,
// longest first: every prefix that looks like a replica (ends in
// -r-<8 alnum>) and is followed by nothing (the head), -bitmap, -rebuilding,
// -restore or -snap-<name>. Volume names may themselves contain "-r-", so more than
// one can match; the caller picks the one that exists.
func ownerCandidates(lvol string) []string {
	var out []string
	for i := strings.Index(lvol, replicaInfix); i >= 0; {
		end := i + len(replicaInfix) + replicaIDLength
		if end <= len(lvol) && alnum(lvol[i+len(replicaInfix):end]) {
			rest := lvol[end:]
			if rest == "" || rest == bitmapSufx || rest == rebuildingSufx || rest == restoreSufx || strings.HasPrefix(rest, snapInfix) && len(rest) > len(snapInfix) {
				out = append(out, lvol[:end])
			}
		}
		next := strings.Index(lvol[i+1:], replicaInfix)
		if next < 0 {
			break
		}
		i += 1 + next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func alnum(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ownerOf picks the replica an lvol belongs to among the candidates its
// name allows: the longest one in heads; else, when none of them has a head,
// the longest candidate (a leftover whose head is gone). ok is false for
// lvols that are no replica's (backing images, other users' lvols).
func ownerOf(lvol string, heads map[string]bool) (owner string, headless, ok bool) {
	cands := ownerCandidates(lvol)
	if len(cands) == 0 {
		return "", false, false
	}
	for _, c := range cands {
		if heads[c] {
			return c, false, true
		}
	}
	return cands[0], true, true
}

// storeLvols is the lvols of one lvstore with their parent links.
type storeLvols struct {
	byName   map[string]lvolInfo
	children map[string]int
	heads    map[string]bool // non-snapshot lvols that look like replica heads
	// degraded are esnap clones whose external snapshot is gone: they have
	// no bdev (bdev_get_bdevs does not list them) but own clusters. For a
	// replica head that is the destination of an interrupted rebuild.
	degraded map[string]bool
}

// degradedLvol is the part of bdev_lvol_get_lvols that shows the lvols
// bdev_get_bdevs cannot.
type degradedLvol struct {
	Name     string `json:"name"`
	Degraded bool   `json:"is_degraded"`
	Snapshot bool   `json:"is_snapshot"`
}

func (m *Manager) readStore(ctx context.Context, lvsUUID string) (storeLvols, error) {
	lvols, err := listLvols(ctx, m.t)
	if err != nil {
		return storeLvols{}, err
	}
	sl := storeLvols{byName: map[string]lvolInfo{}, children: map[string]int{}, heads: map[string]bool{}, degraded: map[string]bool{}}
	for _, lv := range lvols {
		if lv.Driver.Lvol.StoreUUID != lvsUUID {
			continue
		}
		n := lv.lvolName()
		sl.byName[n] = lv
		if p := lv.Driver.Lvol.BaseSnapshot; p != "" {
			sl.children[p]++
		}
		if !lv.Driver.Lvol.Snapshot && headPattern.MatchString(n) {
			sl.heads[n] = true
		}
	}
	var all []degradedLvol
	if err := m.t.Call(ctx, "bdev_lvol_get_lvols", map[string]any{"lvs_uuid": lvsUUID}, &all); err != nil {
		return storeLvols{}, fmt.Errorf("list lvols of %s: %w", lvsUUID, err)
	}
	for _, lv := range all {
		if _, seen := sl.byName[lv.Name]; seen || !lv.Degraded {
			continue
		}
		info := lvolInfo{Name: lv.Name}
		info.Driver.Lvol = &lvolDriver{StoreUUID: lvsUUID, Snapshot: lv.Snapshot}
		sl.byName[lv.Name] = info
		sl.degraded[lv.Name] = true
		if !lv.Snapshot && headPattern.MatchString(lv.Name) {
			sl.heads[lv.Name] = true
		}
	}
	return sl, nil
}

// owned lists the lvols of the store that belong to replica.
func (sl storeLvols) owned(replica string) []string {
	heads := map[string]bool{replica: true}
	for h := range sl.heads {
		heads[h] = true
	}
	var out []string
	for n := range sl.byName {
		if o, _, ok := ownerOf(n, heads); ok && o == replica {
			out = append(out, n)
		}
	}
	return out
}

// deleteLeavesFirst deletes the named lvols of a store, each only once no
// lvol depends on it any more, so that no snapshot is merged into a child
// that is about to go too. Exports of them are stopped first.
func (m *Manager) deleteLeavesFirst(ctx context.Context, lvs string, sl storeLvols, names []string) error {
	todo := map[string]bool{}
	for _, n := range names {
		todo[n] = true
	}
	for len(todo) > 0 {
		progress := false
		for n := range todo {
			if sl.children[n] > 0 {
				continue
			}
			if err := m.t.Call(ctx, "nbd_export_stop", map[string]any{"export_name": n}, nil); err != nil && !isCode(err, codeNoDevice) {
				return fmt.Errorf("stop export %s: %w", n, err)
			}
			if err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": lvs + "/" + n}, nil); err != nil && !isCode(err, codeNoDevice) {
				return fmt.Errorf("delete lvol %s/%s: %w", lvs, n, err)
			}
			if p := sl.byName[n].Driver.Lvol.BaseSnapshot; p != "" {
				sl.children[p]--
			}
			delete(todo, n)
			progress = true
		}
		if !progress {
			// What is left has children outside the set: deleting a
			// snapshot with one such child merges it into that child.
			for n := range todo {
				if err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": lvs + "/" + n}, nil); err != nil && !isCode(err, codeNoDevice) {
					return fmt.Errorf("delete lvol %s/%s (%d clones depend on it): %w", lvs, n, sl.children[n], err)
				}
				delete(todo, n)
			}
		}
	}
	return nil
}

// removeReplicaLvols deletes everything a replica owns on a store: head,
// snapshots (also those an interrupted rebuild copied but never put under
// the head), rebuilding lvol and bitmap, and drops the remote bdev an
// interrupted rebuild left attached. It is idempotent. With the defect
// rebuild-leftovers-kept it walks the head's chain only, as before.
func (m *Manager) removeReplicaLvols(ctx context.Context, lvs, lvsUUID, name string) error {
	return m.removeOwned(ctx, lvs, lvsUUID, name, false)
}

// removeOwned is removeReplicaLvols, optionally keeping the bitmap (a
// rebuild replaces a replica's data under the engine that holds its
// bitmap open).
func (m *Manager) removeOwned(ctx context.Context, lvs, lvsUUID, name string, keepBitmap bool) error {
	// Backups reading the replica's snapshots and a restore writing into
	// it end before their lvols go.
	m.jobs.stopReplica(name)
	if m.defect(DefectRebuildLeftoversKept) {
		return m.removeChain(ctx, lvs, name)
	}
	sl, err := m.readStore(ctx, lvsUUID)
	if err != nil {
		return err
	}
	owned := sl.owned(name)
	if keepBitmap {
		owned = slices.DeleteFunc(owned, func(n string) bool { return n == bitmapLvol(name) })
	}
	if err := m.deleteLeavesFirst(ctx, lvs, sl, owned); err != nil {
		return fmt.Errorf("remove replica %s: %w", name, err)
	}
	if err := m.t.Call(ctx, "bdev_remote_detach", map[string]any{"name": "rebuild-src-" + name}, nil); err != nil && !isCode(err, codeNoDevice) {
		m.log.Warn("detach leftover rebuild source", "replica", name, "err", err)
	}
	return nil
}

// isBackingImageFetch reports whether name is the temporary lvol a backing
// image is fetched into (bi-<image>-tmp), which no restart survives.
func isBackingImageFetch(name string) bool {
	return strings.HasPrefix(name, "bi-") && strings.HasSuffix(name, "-tmp")
}

// collectLeftovers runs when the node starts, before it serves anything:
// no rebuild or restore survives a restart, so every <replica>-rebuilding
// and <replica>-restore lvol is garbage, and so is a head still cloned from its rebuild source (degraded:
// the source's remote bdev is gone) with everything named after it; so is
// every lvol named after a replica whose head is gone (a deletion
// interrupted half-way), and every backing image fetch left half-done.
// Other heads are left to the manager, which knows which replicas it still
// wants.
func (m *Manager) collectLeftovers(ctx context.Context) error {
	if m.defect(DefectRebuildLeftoversKept) {
		m.log.Error("DEFECT rebuild-leftovers-kept: leftovers of interrupted rebuilds and deletions are not collected")
		return nil
	}
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return err
	}
	for _, s := range stores {
		sl, err := m.readStore(ctx, s.UUID)
		if err != nil {
			return err
		}
		var garbage []string
		for n := range sl.byName {
			owner, headless, ok := ownerOf(n, sl.heads)
			if ok && (headless || sl.degraded[owner] || (strings.HasSuffix(n, rebuildingSufx) || strings.HasSuffix(n, restoreSufx)) && !sl.heads[n]) ||
				isBackingImageFetch(n) {
				garbage = append(garbage, n)
			}
		}
		if len(garbage) == 0 {
			continue
		}
		m.log.Warn("collecting leftovers of interrupted rebuilds, restores and deletions", "lvstore", s.Name, "lvols", garbage)
		if err := m.deleteLeavesFirst(ctx, s.Name, sl, garbage); err != nil {
			return fmt.Errorf("collect leftovers on %s: %w", s.Name, err)
		}
	}
	return nil
}

// purgeSystemSnapshots deletes a replica's rebuild snapshots, leaves
// first. Each has the head or the next snapshot as its only child, so the
// delete merges it into that child (metadata only: no data moves and what
// the head reads does not change), as Longhorn purges system snapshots.
// A rebuild snapshot some rebuild still reads (exported, or busy in a
// shallow copy) or a backup reads is skipped; the next purge takes it.
func (m *Manager) purgeSystemSnapshots(ctx context.Context, replica string) (int, error) {
	r, err := m.knownReplica(replica)
	if err != nil {
		return 0, err
	}
	sl, err := m.readStore(ctx, r.LvstoreUUID)
	if err != nil {
		return 0, err
	}
	prefix := replica + snapInfix + rebuildSnapPfx
	purged := 0
	for {
		var next string
		for _, n := range sl.owned(replica) {
			if strings.HasPrefix(n, prefix) && sl.children[n] <= 1 && !m.exported(n) && !m.backingUp(r.LvstoreName, n) && (next == "" || n > next) {
				next = n
			}
		}
		if next == "" {
			return purged, nil
		}
		if err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": r.LvstoreName + "/" + next}, nil); err != nil && !isCode(err, codeNoDevice) {
			return purged, fmt.Errorf("purge %s/%s: %w", r.LvstoreName, next, err)
		}
		purged++
		if sl, err = m.readStore(ctx, r.LvstoreUUID); err != nil {
			return purged, err
		}
	}
}

// exported reports whether the node serves an export of that name.
func (m *Manager) exported(name string) bool {
	for _, e := range m.t.NBD().Exports() {
		if e.Name == name {
			return true
		}
	}
	return false
}

// purgeMembers purges the rebuild snapshots of an engine's replicas whose
// mode is RW (and of extra, a replica just rebuilt), each on its own node.
// Failures are logged: a snapshot left now is purged next time.
func (m *Manager) purgeMembers(ctx context.Context, e *engine, modes map[string]string, extra ...string) {
	if m.defect(DefectRebuildSnapshotKept) {
		m.log.Error("DEFECT rebuild-snapshot-kept: rebuild snapshots are not purged", "engine", e.req.Name)
		return
	}
	e.mu.Lock()
	members := slices.Clone(e.members)
	e.mu.Unlock()
	for _, r := range members {
		if modes[r.Name] != improto.ModeRW && !slices.Contains(extra, r.Name) {
			continue
		}
		var n int
		if err := m.peers.call(ctx, r.Address, methodReplicaPurge, improto.NameRequest{Name: r.Name}, &n); err != nil {
			m.log.Warn("purge rebuild snapshots", "replica", r.Name, "err", err)
		} else if n > 0 {
			m.log.Info("rebuild snapshots purged", "replica", r.Name, "count", n)
		}
	}
}
