package instance

import (
	"context"
	"fmt"
	"time"
)

// Rebuild steps a node runs on request of the node that runs the engine
// (extension methods, see rebuild.go for the sequence). The source holds a
// healthy replica, the destination the replica being rebuilt.
const (
	methodRebuildSrcExport   = "im_rebuild_src_export"
	methodRebuildSrcUnexport = "im_rebuild_src_unexport"
	methodRebuildSrcCopy     = "im_rebuild_src_copy"
	methodRebuildDstStart    = "im_rebuild_dst_start"
	methodRebuildDstPrepare  = "im_rebuild_dst_prepare"
	methodRebuildDstCommit   = "im_rebuild_dst_commit"
	methodRebuildDstFinish   = "im_rebuild_dst_finish"
)

// rebuildRequest carries the arguments of every rebuild step; each step
// reads the fields it needs.
type rebuildRequest struct {
	// Replica is the replica on the node called.
	Replica string `json:"replica"`
	// Lvol is a snapshot lvol name (source steps: the source's snapshot;
	// dst_commit and dst_finish: the destination snapshot to create or use).
	Lvol string `json:"lvol,omitempty"`
	// Address and Export name the peer's NBD export.
	Address string `json:"address,omitempty"`
	Export  string `json:"export,omitempty"`
	// Parent (dst_prepare) is the destination snapshot the next copy goes
	// on top of; empty for the first one.
	Parent string `json:"parent,omitempty"`
	// SourceBase (dst_prepare) is the source chain's base lvol when it is
	// a backing image, e.g. bi-<image>-disk-<source lvstore uuid>.
	SourceBase string `json:"source_base,omitempty"`
}

// replicaStore returns the lvstore of a known replica.
func (m *Manager) replicaStore(ctx context.Context, name string) (lvstoreInfo, error) {
	r, err := m.knownReplica(name)
	if err != nil {
		return lvstoreInfo{}, err
	}
	return m.findStore(ctx, r.LvstoreUUID, "")
}

func (m *Manager) call(ctx context.Context, method string, params map[string]any) error {
	if err := m.t.Call(ctx, method, params, nil); err != nil {
		return fmt.Errorf("%s %v: %w", method, params, err)
	}
	return nil
}

// rebuildSrcExport exports a source snapshot read-only under its lvol name.
func (m *Manager) rebuildSrcExport(ctx context.Context, p *rebuildRequest) (any, error) {
	s, err := m.replicaStore(ctx, p.Replica)
	if err != nil {
		return nil, err
	}
	err = m.t.Call(ctx, "nbd_export_start", map[string]any{"bdev_name": s.Name + "/" + p.Lvol, "export_name": p.Lvol, "read_only": true, "access_key": m.protected()}, nil)
	if err != nil && !isCode(err, codeExists) {
		return nil, fmt.Errorf("export snapshot %s: %w", p.Lvol, err)
	}
	return p.Lvol, nil
}

func (m *Manager) rebuildSrcUnexport(ctx context.Context, p *rebuildRequest) (any, error) {
	err := m.t.Call(ctx, "nbd_export_stop", map[string]any{"export_name": p.Lvol}, nil)
	if err != nil && !isCode(err, codeNoDevice) {
		return nil, err
	}
	return true, nil
}

// rebuildSrcCopy shallow-copies a source snapshot into the destination's
// exported rebuilding lvol (attached here as a remote bdev) and returns
// when the copy is complete and flushed.
func (m *Manager) rebuildSrcCopy(ctx context.Context, p *rebuildRequest) (any, error) {
	s, err := m.replicaStore(ctx, p.Replica)
	if err != nil {
		return nil, err
	}
	remote := "rebuild-dst-" + p.Export
	m.t.Call(ctx, "bdev_remote_detach", map[string]any{"name": remote}, nil) // a leftover of a failed try
	if err := m.call(ctx, "bdev_remote_attach", map[string]any{"name": remote, "address": p.Address, "export_name": p.Export, "access_key": m.protected()}); err != nil {
		return nil, err
	}
	defer m.t.Call(context.WithoutCancel(ctx), "bdev_remote_detach", map[string]any{"name": remote}, nil)
	var op struct {
		ID uint32 `json:"operation_id"`
	}
	if err := m.t.Call(ctx, "bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": s.Name + "/" + p.Lvol, "dst_bdev_name": remote}, &op); err != nil {
		return nil, fmt.Errorf("shallow copy %s: %w", p.Lvol, err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var st struct {
			Copied uint64 `json:"copied_clusters"`
			Total  uint64 `json:"total_clusters"`
			State  string `json:"state"`
			Error  string `json:"error"`
		}
		if err := m.t.Call(ctx, "bdev_lvol_check_shallow_copy", map[string]any{"operation_id": op.ID}, &st); err != nil {
			return nil, fmt.Errorf("shallow copy %s: %w", p.Lvol, err)
		}
		switch st.State {
		case "complete":
			m.log.Info("snapshot copied", "snapshot", p.Lvol, "to", p.Export, "clusters", st.Total)
			return st.Total, nil
		case "error":
			return nil, fmt.Errorf("shallow copy %s: %s", p.Lvol, st.Error)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("shallow copy %s: %w", p.Lvol, ctx.Err())
		case <-tick.C:
		}
	}
}

// rebuildDstStart replaces the destination head by a clone of the source's
// rebuild snapshot, attached as a remote bdev (an external snapshot): new
// writes land in the head while everything else reads through to the
// source, so a partial-cluster write copies real data, not zeros.
func (m *Manager) rebuildDstStart(ctx context.Context, p *rebuildRequest) (any, error) {
	s, err := m.replicaStore(ctx, p.Replica)
	if err != nil {
		return nil, err
	}
	head, ok, err := getLvol(ctx, m.t, s.Name, p.Replica)
	if err != nil || !ok {
		return nil, fmt.Errorf("rebuild %s: head missing: %v", p.Replica, err)
	}
	if err := m.t.Call(ctx, "nbd_export_stop", map[string]any{"export_name": p.Replica}, nil); err != nil && !isCode(err, codeNoDevice) {
		return nil, err
	}
	if err := m.removeOwned(ctx, s.Name, s.UUID, p.Replica, true); err != nil {
		return nil, err
	}
	remote := "rebuild-src-" + p.Replica
	m.t.Call(ctx, "bdev_remote_detach", map[string]any{"name": remote}, nil)
	if err := m.call(ctx, "bdev_remote_attach", map[string]any{"name": remote, "address": p.Address, "export_name": p.Export, "access_key": m.protected()}); err != nil {
		return nil, err
	}
	if err := m.call(ctx, "bdev_lvol_clone_bdev", map[string]any{"bdev": remote, "lvs_name": s.Name, "clone_name": p.Replica}); err != nil {
		return nil, err
	}
	if lv, ok, err := getLvol(ctx, m.t, s.Name, p.Replica); err != nil || !ok {
		return nil, fmt.Errorf("rebuild %s: new head missing: %v", p.Replica, err)
	} else if lv.size() < head.size() {
		if err := m.call(ctx, "bdev_lvol_resize", map[string]any{"name": s.Name + "/" + p.Replica, "size_in_mib": head.size() / mib}); err != nil {
			return nil, err
		}
	}
	if err := m.export(ctx, s.Name, p.Replica); err != nil {
		return nil, err
	}
	return true, nil
}

// rebuildingLvol is the destination lvol a snapshot is copied into.
func rebuildingLvol(replica string) string { return replica + "-rebuilding" }

// rebuildDstPrepare creates and exports <replica>-rebuilding on top of the
// already copied parent (or the disk's backing image, or nothing) with the
// head's size.
func (m *Manager) rebuildDstPrepare(ctx context.Context, p *rebuildRequest) (any, error) {
	s, err := m.replicaStore(ctx, p.Replica)
	if err != nil {
		return nil, err
	}
	head, ok, err := getLvol(ctx, m.t, s.Name, p.Replica)
	if err != nil || !ok {
		return nil, fmt.Errorf("rebuild %s: head missing: %v", p.Replica, err)
	}
	name := rebuildingLvol(p.Replica)
	full := s.Name + "/" + name
	m.t.Call(ctx, "nbd_export_stop", map[string]any{"export_name": name}, nil)
	if err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": full}, nil); err != nil && !isCode(err, codeNoDevice) {
		return nil, err
	}
	parent := p.Parent
	if parent == "" && p.SourceBase != "" {
		bi, found, err := m.rebuildBackingParent(ctx, s, p.SourceBase)
		if err != nil {
			return nil, err
		}
		if found {
			parent = bi
		} else {
			m.log.Warn("rebuilt replica gets no backing image under it", "replica", p.Replica, "source_base", p.SourceBase)
		}
	}
	if parent == "" {
		err = m.call(ctx, "bdev_lvol_create", map[string]any{"lvol_name": name, "size_in_mib": head.size() / mib, "thin_provision": true, "lvs_name": s.Name})
	} else {
		err = m.call(ctx, "bdev_lvol_clone", map[string]any{"snapshot_name": s.Name + "/" + parent, "clone_name": name})
		if err == nil {
			err = m.call(ctx, "bdev_lvol_resize", map[string]any{"name": full, "size_in_mib": head.size() / mib})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: prepare %s: %w", p.Replica, name, err)
	}
	if err := m.export(ctx, s.Name, name); err != nil {
		return nil, err
	}
	return name, nil
}

// rebuildBackingParent resolves the destination's copy of the backing image
// under a source chain whose base is srcBase. Backing image lvol names hold
// the lvstore UUID, so the same image has another name on every disk: the
// match must be by image name, on the destination's own lvstore. The defect
// rebuild-bi-parent-by-full-name (seed bug 004) matches the full lvol name
// instead, finds nothing, and leaves the rebuilt chain without its backing
// image.
func (m *Manager) rebuildBackingParent(ctx context.Context, dst lvstoreInfo, srcBase string) (string, bool, error) {
	name := backingImageLvol(imageOfLvol(srcBase), dst.UUID)
	if m.defect(DefectBIParentFullName) {
		name = srcBase
	}
	_, ok, err := getLvol(ctx, m.t, dst.Name, name)
	if err != nil {
		return "", false, err
	}
	if !ok && !m.defect(DefectBIParentFullName) {
		return "", false, fmt.Errorf("backing image %s has no copy %s on disk %s", imageOfLvol(srcBase), name, dst.Name)
	}
	return name, ok, nil
}

// rebuildDstCommit turns the filled rebuilding lvol into the snapshot Lvol.
func (m *Manager) rebuildDstCommit(ctx context.Context, p *rebuildRequest) (any, error) {
	s, err := m.replicaStore(ctx, p.Replica)
	if err != nil {
		return nil, err
	}
	name := rebuildingLvol(p.Replica)
	full := s.Name + "/" + name
	if err := m.call(ctx, "nbd_export_stop", map[string]any{"export_name": name}); err != nil {
		return nil, err
	}
	if err := m.call(ctx, "bdev_lvol_snapshot", map[string]any{"lvol_name": full, "snapshot_name": p.Lvol}); err != nil {
		return nil, err
	}
	if err := m.call(ctx, "bdev_lvol_delete", map[string]any{"name": full}); err != nil {
		return nil, err
	}
	return true, nil
}

// rebuildDstFinish re-parents the head from the source's snapshot (remote)
// onto the local copy of it, a metadata change the caller makes with
// frontend I/O held, and drops the remote bdev.
func (m *Manager) rebuildDstFinish(ctx context.Context, p *rebuildRequest) (any, error) {
	s, err := m.replicaStore(ctx, p.Replica)
	if err != nil {
		return nil, err
	}
	if err := m.call(ctx, "bdev_lvol_set_parent", map[string]any{"lvol_name": s.Name + "/" + p.Replica, "parent_name": s.Name + "/" + p.Lvol}); err != nil {
		return nil, err
	}
	if err := m.call(ctx, "bdev_remote_detach", map[string]any{"name": "rebuild-src-" + p.Replica}); err != nil {
		m.log.Warn("detach rebuild source", "replica", p.Replica, "err", err)
	}
	return true, nil
}
