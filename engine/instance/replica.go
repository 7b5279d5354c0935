package instance

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/raid1"
)

// headPattern matches replica head lvol names, <volume>-r-<8 alnum>.
var headPattern = regexp.MustCompile(`^(.+)-r-[a-zA-Z0-9]{8}$`)

// revisionXattr is the head lvol xattr holding the replica's revision.
const revisionXattr = "revision"

const mib = 1 << 20

// replica is what the instance manager remembers about a replica. The
// disk is the truth: every decision re-reads it.
type replica struct {
	info improto.ReplicaInfo
	// cache is what the last reconstruction read from the lvstore, until
	// the replica starts again.
	cache *replicaCache
}

// checkName refuses names that cannot be an lvol, an export and a flag
// value of the engine command line.
func checkName(kind, name string) error {
	if name == "" || len(name) > 63 || strings.ContainsAny(name, "/,\x00 ") {
		return fmt.Errorf("%s name %q: want 1-63 bytes without '/', ',' or spaces", kind, name)
	}
	return nil
}

// describe builds ReplicaInfo from the head lvol on disk.
func (m *Manager) describe(ctx context.Context, s lvstoreInfo, head lvolInfo) (improto.ReplicaInfo, error) {
	chain, err := chainOf(ctx, m.t, s.Name, head)
	if err != nil {
		return improto.ReplicaInfo{}, err
	}
	rev, err := m.readRevision(ctx, s.Name, head.lvolName())
	if err != nil {
		return improto.ReplicaInfo{}, err
	}
	last, err := m.readXattr(ctx, s.Name, head.lvolName(), restoreLastXattr)
	if err != nil {
		return improto.ReplicaInfo{}, err
	}
	return improto.ReplicaInfo{
		Name: head.lvolName(), LvstoreName: s.Name, LvstoreUUID: s.UUID, Size: head.size(),
		Chain: chain, BackingImage: imageOfLvol(chain[0]), Revision: rev, LastRestored: last,
	}, nil
}

// readRevision reads the head's revision xattr; a head without one is at 0.
func (m *Manager) readRevision(ctx context.Context, lvs, name string) (uint64, error) {
	var v string
	err := m.t.Call(ctx, "bdev_lvol_get_xattr", map[string]any{"name": lvs + "/" + name, "xattr_name": revisionXattr}, &v)
	if err != nil {
		// An absent xattr is an internal error carrying ENOENT's text.
		if strings.Contains(err.Error(), "No such file") {
			return 0, nil
		}
		return 0, fmt.Errorf("read revision of %s/%s: %w", lvs, name, err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("revision of %s/%s: %q is not a number", lvs, name, v)
	}
	return n, nil
}

// findStore picks the lvstore a request names, by UUID first.
func (m *Manager) findStore(ctx context.Context, uuid, name string) (lvstoreInfo, error) {
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return lvstoreInfo{}, err
	}
	for _, s := range stores {
		if (uuid != "" && s.UUID == uuid) || (uuid == "" && name != "" && s.Name == name) {
			return s, nil
		}
	}
	return lvstoreInfo{}, fmt.Errorf("no lvstore with uuid %q or name %q on node %s", uuid, name, m.opts.Node)
}

// createReplica makes a replica available: reuse its head when on disk,
// else create it, then export it.
func (m *Manager) createReplica(ctx context.Context, req improto.ReplicaCreateRequest) (improto.ReplicaInfo, error) {
	if err := checkName("replica", req.Name); err != nil {
		return improto.ReplicaInfo{}, err
	}
	if req.Size <= 0 {
		return improto.ReplicaInfo{}, fmt.Errorf("replica %s: size %d must be positive", req.Name, req.Size)
	}
	m.repMu.Lock()
	defer m.repMu.Unlock()
	// A replica (re)started for a new engine ends the restore running into
	// it: an interruption, not a restore error; lastRestored stays.
	m.jobs.stopRestore(req.Name)
	s, err := m.findStore(ctx, req.LvstoreUUID, req.LvstoreName)
	if err != nil {
		return improto.ReplicaInfo{}, fmt.Errorf("replica %s: %w", req.Name, err)
	}
	// A replica that is not running (stopped after a failure or a detach)
	// starts from its lvstore, as after a node restart (Longhorn 9488).
	cache := m.reconstructStopped(ctx, s, req.Name)
	head, reused, err := m.headOnDisk(ctx, s, req.Name, cache)
	if err != nil {
		return improto.ReplicaInfo{}, err
	}
	if !reused {
		var ok bool
		if err := m.createHead(ctx, s, req, cache); err != nil {
			return improto.ReplicaInfo{}, err
		}
		if head, ok, err = getLvol(ctx, m.t, s.Name, req.Name); err != nil || !ok {
			return improto.ReplicaInfo{}, fmt.Errorf("replica %s: head missing right after create: %v", req.Name, err)
		}
	}
	// A replica is (re)started only for an engine that is about to use it:
	// the one before is gone. Restarting its exports drops that engine's
	// connections together with the requests still queued on them, so no
	// write of a dead engine lands behind the new engine's resync.
	for _, export := range []string{req.Name, bitmapLvol(req.Name)} {
		if err := m.t.Call(ctx, "nbd_export_stop", map[string]any{"export_name": export}, nil); err != nil && !isCode(err, codeNoDevice) {
			return improto.ReplicaInfo{}, fmt.Errorf("fence export %s: %w", export, err)
		}
	}
	if err := m.export(ctx, s.Name, req.Name); err != nil {
		return improto.ReplicaInfo{}, err
	}
	if err := m.ensureBitmap(ctx, s, req.Name, req.Size, reused); err != nil {
		return improto.ReplicaInfo{}, err
	}
	info, err := m.describe(ctx, s, head)
	if err != nil {
		return improto.ReplicaInfo{}, err
	}
	info.Volume = req.Volume
	info.State = improto.StateRunning
	info.Address = m.opts.NBDAddress
	info.Export = req.Name
	m.mu.Lock()
	m.replicas[req.Name] = &replica{info: info}
	m.mu.Unlock()
	m.log.Info("replica running", "replica", req.Name, "reused", reused, "chain", info.Chain)
	return info, nil
}

// createHead creates the head lvol: a clone of the newest snapshot of the
// chain the node last read for the replica (as Longhorn's prepareHead
// clones the chain's tail), else a thin lvol, or a clone of the disk's copy
// of the backing image.
func (m *Manager) createHead(ctx context.Context, s lvstoreInfo, req improto.ReplicaCreateRequest, cache *replicaCache) error {
	sizeMiB := (req.Size + mib - 1) / mib
	if tail := cache.tail(); strings.HasPrefix(tail, req.Name+"-snap-") {
		if err := m.t.Call(ctx, "bdev_lvol_clone", map[string]any{"snapshot_name": s.Name + "/" + tail, "clone_name": req.Name}, nil); err != nil {
			return fmt.Errorf("clone snapshot %s into replica head %s/%s: %w", tail, s.Name, req.Name, err)
		}
		return nil
	}
	if req.BackingImage == "" {
		err := m.t.Call(ctx, "bdev_lvol_create", map[string]any{"lvol_name": req.Name, "size_in_mib": sizeMiB, "thin_provision": true, "lvs_name": s.Name}, nil)
		if err != nil {
			return fmt.Errorf("create replica head %s/%s: %w", s.Name, req.Name, err)
		}
		return nil
	}
	bi, err := m.ensureBackingImage(ctx, s, req.BackingImage, req.BackingImageURL, req.BackingImageSHA512)
	if err != nil {
		return fmt.Errorf("replica %s: %w", req.Name, err)
	}
	if err := m.t.Call(ctx, "bdev_lvol_clone", map[string]any{"snapshot_name": s.Name + "/" + bi.lvolName(), "clone_name": req.Name}, nil); err != nil {
		return fmt.Errorf("clone backing image %s into %s: %w", bi.lvolName(), req.Name, err)
	}
	if bi.size() < sizeMiB*mib {
		if err := m.t.Call(ctx, "bdev_lvol_resize", map[string]any{"name": s.Name + "/" + req.Name, "size_in_mib": sizeMiB}, nil); err != nil {
			return fmt.Errorf("resize replica %s: %w", req.Name, err)
		}
	}
	return nil
}

// protected reports whether the node protects the exports it makes for
// engines and peers with access keys: it does when it has a cluster
// credential (its target derives the keys from the same one).
func (m *Manager) protected() bool { return !m.opts.Credential.IsZero() }

// exportKey is the access key of one of those exports, "" when the node
// leaves them open.
func (m *Manager) exportKey(export string) string {
	if !m.protected() {
		return ""
	}
	return m.opts.Credential.ExportKey(export)
}

// export serves the head over NBD under the replica's name; an export that
// is already there is kept.
func (m *Manager) export(ctx context.Context, lvs, name string) error {
	err := m.t.Call(ctx, "nbd_export_start", map[string]any{"bdev_name": lvs + "/" + name, "export_name": name, "access_key": m.protected()}, nil)
	if err != nil && !isCode(err, codeExists) {
		return fmt.Errorf("export replica %s: %w", name, err)
	}
	return nil
}

// deleteReplica stops a replica's exports and, with cleanup, removes
// everything it owns on disk (never the backing image). A missing replica
// is fine.
func (m *Manager) deleteReplica(ctx context.Context, req improto.ReplicaDeleteRequest) error {
	m.repMu.Lock()
	defer m.repMu.Unlock()
	m.jobs.stopRestore(req.Name)
	for _, export := range []string{req.Name, bitmapLvol(req.Name)} {
		err := m.t.Call(ctx, "nbd_export_stop", map[string]any{"export_name": export}, nil)
		if err != nil && !isCode(err, codeNoDevice) {
			return fmt.Errorf("stop export %s of replica %s: %w", export, req.Name, err)
		}
	}
	m.mu.Lock()
	r, known := m.replicas[req.Name]
	m.mu.Unlock()
	if req.CleanupDisk {
		var s lvstoreInfo
		if known {
			s = lvstoreInfo{Name: r.info.LvstoreName, UUID: r.info.LvstoreUUID}
		} else {
			var err error
			if s, err = m.storeOfReplica(ctx, req.Name); err != nil {
				return err
			}
		}
		if s.Name != "" {
			if err := m.removeReplicaLvols(ctx, s.Name, s.UUID, req.Name); err != nil {
				return err
			}
		}
		m.mu.Lock()
		delete(m.replicas, req.Name)
		m.mu.Unlock()
		m.jobs.forgetRestore(req.Name)
	} else if known {
		m.mu.Lock()
		r.info.State = improto.StateStopped
		r.info.Address, r.info.Export = "", ""
		m.mu.Unlock()
	}
	m.log.Info("replica deleted", "replica", req.Name, "cleanup_disk", req.CleanupDisk)
	return nil
}

// storeOfReplica finds the lvstore holding a replica's head or, when the
// head is gone, anything else named after it (degraded lvols included);
// the zero value when there is nothing.
func (m *Manager) storeOfReplica(ctx context.Context, name string) (lvstoreInfo, error) {
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return lvstoreInfo{}, err
	}
	for _, s := range stores {
		sl, err := m.readStore(ctx, s.UUID)
		if err != nil {
			return lvstoreInfo{}, err
		}
		if len(sl.owned(name)) > 0 {
			return s, nil
		}
	}
	return lvstoreInfo{}, nil
}

// removeChain deletes the head and then the replica's own snapshots
// (those named <replica>-snap-*), newest first.
func (m *Manager) removeChain(ctx context.Context, lvs, name string) error {
	head, ok, err := getLvol(ctx, m.t, lvs, name)
	if err != nil || !ok {
		return err
	}
	chain, err := chainOf(ctx, m.t, lvs, head)
	if err != nil {
		return err
	}
	for i := len(chain) - 1; i >= 0; i-- {
		n := chain[i]
		if n != name && !strings.HasPrefix(n, name+"-snap-") {
			continue
		}
		err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": lvs + "/" + n}, nil)
		if err != nil && !isCode(err, codeNoDevice) {
			return fmt.Errorf("delete lvol %s/%s: %w", lvs, n, err)
		}
	}
	return nil
}

// getReplica returns what is known of a replica, with its revision read
// from disk.
func (m *Manager) getReplica(ctx context.Context, name string) (improto.ReplicaInfo, error) {
	info, err := m.knownReplica(name)
	if err != nil {
		return info, err
	}
	// Chain and revision come from disk: a rebuild or snapshot changes them.
	s := lvstoreInfo{Name: info.LvstoreName, UUID: info.LvstoreUUID}
	head, ok, err := getLvol(ctx, m.t, s.Name, name)
	if err != nil {
		return info, err
	}
	if !ok {
		info.State, info.Error = improto.StateError, "head lvol is missing on disk"
		return info, nil
	}
	d, err := m.describe(ctx, s, head)
	if err != nil {
		return info, err
	}
	info.Chain, info.BackingImage, info.Revision, info.Size = d.Chain, d.BackingImage, d.Revision, d.Size
	info.LastRestored = d.LastRestored
	info.HeadAllocatedClusters = head.Driver.Lvol.Allocated
	if dev, ok := m.t.Bdev(s.Name + "/" + bitmapLvol(name)); ok {
		if ev, err := raid1.IntentEvents(dev); err == nil {
			info.IntentEvents = ev
		}
	}
	return info, nil
}

// listReplicas lists the replicas sorted by name.
func (m *Manager) listReplicas(ctx context.Context) []improto.ReplicaInfo {
	m.mu.Lock()
	names := make([]string, 0, len(m.replicas))
	for n := range m.replicas {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
	out := make([]improto.ReplicaInfo, 0, len(names))
	for _, n := range names {
		if info, err := m.getReplica(ctx, n); err == nil {
			out = append(out, info)
		}
	}
	return out
}

// knownReplica returns what the manager holds on a replica it knows.
func (m *Manager) knownReplica(name string) (improto.ReplicaInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.replicas[name]
	if !ok {
		return improto.ReplicaInfo{}, errNotFound("replica", name)
	}
	return r.info, nil
}

// setRevision stores a replica's revision on its head.
func (m *Manager) setRevision(ctx context.Context, name string, rev uint64) error {
	r, err := m.knownReplica(name)
	if err != nil {
		return err
	}
	err = m.t.Call(ctx, "bdev_lvol_set_xattr", map[string]any{"name": r.LvstoreName + "/" + name, "xattr_name": revisionXattr, "xattr_value": strconv.FormatUint(rev, 10)}, nil)
	if err != nil {
		return fmt.Errorf("set revision of replica %s: %w", name, err)
	}
	return nil
}
