package target

import (
	"context"
	"encoding/base64"
	"math/bits"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/lvstore"
)

type createLvolParams struct {
	LvolName      string  `json:"lvol_name"`
	SizeInMiB     uint64  `json:"size_in_mib"`
	ThinProvision bool    `json:"thin_provision"`
	UUID          string  `json:"uuid"`
	LvsName       string  `json:"lvs_name"`
	ClearMethod   *string `json:"clear_method"`
}

type snapshotParams struct {
	LvolName     string            `json:"lvol_name"`
	SnapshotName string            `json:"snapshot_name"`
	Xattrs       map[string]string `json:"xattrs"`
}

type cloneParams struct {
	SnapshotName string `json:"snapshot_name"`
	CloneName    string `json:"clone_name"`
}

type cloneBdevParams struct {
	Bdev      string `json:"bdev"`
	LvsName   string `json:"lvs_name"`
	CloneName string `json:"clone_name"`
}

type renameParams struct {
	OldName string `json:"old_name"`
	NewName string `json:"new_name"`
}

type resizeParams struct {
	Name      string `json:"name"`
	SizeInMiB uint64 `json:"size_in_mib"`
}

type getLvolsParams struct {
	LvsUUID string `json:"lvs_uuid"`
	LvsName string `json:"lvs_name"`
}

type setParentParams struct {
	LvolName   string `json:"lvol_name"`
	ParentName string `json:"parent_name"`
}

type setXattrParams struct {
	Name       string `json:"name"`
	XattrName  string `json:"xattr_name"`
	XattrValue string `json:"xattr_value"`
}

type getXattrParams struct {
	Name      string `json:"name"`
	XattrName string `json:"xattr_name"`
}

type fragmapParams struct {
	Name   string `json:"name"`
	Offset uint64 `json:"offset"`
	Size   uint64 `json:"size"`
}

// lvolLocked finds an lvol bdev by name, alias or UUID; anything else
// (missing, or a bdev that is not an lvol) is -19.
func (t *Target) lvolLocked(name string) (*lvstore.Lvol, error) {
	v, ok := t.lookupLocked(name)
	if !ok || v.lvol == nil {
		return nil, errNoDevice
	}
	return v.lvol, nil
}

// lvolOp is the shape of the simple "name → true" lvol methods whose
// failures SPDK reports asynchronously (-32602).
func (t *Target) lvolOp(fn func(s *lvstore.Store, lv *lvstore.Lvol) error) jsonrpc.Handler {
	return method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			return nil, err
		}
		if err := fn(lv.Store(), lv); err != nil {
			return nil, asyncError(err)
		}
		return true, nil
	})
}

func (t *Target) lvolHandlers(m map[string]jsonrpc.Handler) {
	m["bdev_lvol_create"] = method(t, decodeLvol, req("lvol_name", "size_in_mib"), t.createLvol)
	m["bdev_lvol_snapshot"] = method(t, decodeLvol, req("lvol_name", "snapshot_name"), func(ctx context.Context, p *snapshotParams) (any, error) {
		lv, err := t.lvolLocked(p.LvolName)
		if err != nil {
			return nil, err
		}
		snap, err := lv.Store().Snapshot(lv, p.SnapshotName, p.Xattrs)
		if err != nil {
			return nil, asyncError(err)
		}
		t.log.Info("lvol snapshot", "lvol", lv.Alias(), "snapshot", snap.Alias(), "uuid", snap.UUID())
		return snap.UUID(), nil
	})
	m["bdev_lvol_clone"] = method(t, decodeLvol, req("snapshot_name", "clone_name"), func(ctx context.Context, p *cloneParams) (any, error) {
		snap, err := t.lvolLocked(p.SnapshotName)
		if err != nil {
			return nil, err
		}
		clone, err := snap.Store().Clone(snap, p.CloneName)
		if err != nil {
			return nil, asyncError(err)
		}
		t.announceLocked(clone.UUID(), clone)
		return clone.UUID(), nil
	})
	m["bdev_lvol_clone_bdev"] = method(t, decodeLvol, req("bdev", "lvs_name", "clone_name"), func(ctx context.Context, p *cloneBdevParams) (any, error) {
		s, ok := t.storeByNameLocked(p.LvsName)
		if !ok {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "lvs does not exist"}
		}
		v, ok := t.lookupLocked(p.Bdev)
		if !ok {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "bdev does not exist"}
		}
		if v.lvol != nil && v.lvol.Store() == s {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "bdev is an lvol in same lvs as clone; use bdev_lvol_clone instead"}
		}
		clone, err := s.CloneExternal(v.dev, v.uuid, p.CloneName)
		if err != nil {
			return nil, asyncError(err)
		}
		return clone.UUID(), nil
	})
	m["bdev_lvol_rename"] = method(t, decodeLvol, req("old_name", "new_name"), func(ctx context.Context, p *renameParams) (any, error) {
		lv, err := t.lvolLocked(p.OldName)
		if err != nil {
			return nil, err
		}
		if err := lv.Store().RenameLvol(lv, p.NewName); err != nil {
			return nil, asyncError(err)
		}
		return true, nil
	})
	m["bdev_lvol_resize"] = method(t, decodeLvol, req("name", "size_in_mib"), func(ctx context.Context, p *resizeParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			return nil, err
		}
		if p.SizeInMiB > 1<<43 {
			return nil, asyncError(syscall.EINVAL)
		}
		if err := lv.Store().Resize(lv, p.SizeInMiB<<20); err != nil {
			return nil, asyncError(err)
		}
		return true, nil
	})
	m["bdev_lvol_set_read_only"] = t.lvolOp(func(s *lvstore.Store, lv *lvstore.Lvol) error { return s.SetReadOnly(lv) })
	m["bdev_lvol_inflate"] = t.lvolOp(func(s *lvstore.Store, lv *lvstore.Lvol) error { return s.Inflate(lv) })
	m["bdev_lvol_decouple_parent"] = t.lvolOp(func(s *lvstore.Store, lv *lvstore.Lvol) error { return s.DecoupleParent(lv) })
	m["bdev_lvol_detach_parent"] = t.lvolOp(func(s *lvstore.Store, lv *lvstore.Lvol) error { return s.DetachParent(lv) })
	m["bdev_lvol_delete"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			// Degraded lvols have no bdev but can be deleted by UUID or alias.
			var ok bool
			if lv, ok = t.findLvolLocked(p.Name); !ok {
				return nil, err
			}
		}
		// SPDK refuses before it unregisters anything
		// (vbdev_lvol_destroy: a snapshot with several clones is -1);
		// then the bdev goes from whatever held it.
		if len(lv.Children()) > 1 {
			return nil, withCode(jsonrpc.CodeInternalError, syscall.EPERM)
		}
		if !lv.IsDegraded() {
			if err := t.checkRemovableLocked(lvolView(lv)); err != nil {
				return nil, withCode(jsonrpc.CodeInternalError, syscall.EBUSY)
			}
			t.hotRemoveLocked(lvolView(lv))
		}
		alias := lv.Alias()
		if err := lv.Store().Delete(lv); err != nil {
			return nil, withCode(jsonrpc.CodeInternalError, err)
		}
		t.log.Info("lvol deleted", "lvol", alias)
		return true, nil
	})
	m["bdev_lvol_get_lvols"] = method(t, decodeLvol, nil, func(ctx context.Context, p *getLvolsParams) (any, error) {
		stores, err := t.lvolStoresLocked(p)
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, s := range stores {
			for _, lv := range s.Lvols() {
				out = append(out, map[string]any{
					"alias":               lv.Alias(),
					"uuid":                lv.UUID(),
					"name":                lv.Name(),
					"is_thin_provisioned": lv.IsThin(),
					"is_snapshot":         lv.IsSnapshot(),
					"is_clone":            lv.IsClone(),
					"is_esnap_clone":      lv.IsEsnapClone(),
					"is_degraded":         lv.IsDegraded(),
					"creation_time":       lv.CreationTime().UTC().Format(time.RFC3339),
					"lvs":                 map[string]string{"name": s.Name(), "uuid": s.UUID()},
				})
			}
		}
		return out, nil
	})
	// bdev_lvol_get_allocated_clusters is refengine's extension: the
	// clusters each lvol owns, degraded lvols included, which SPDK shows
	// only in a bdev's driver_specific (so not for a degraded lvol, which
	// has no bdev). Params as bdev_lvol_get_lvols'.
	m["bdev_lvol_get_allocated_clusters"] = method(t, decodeLvol, nil, func(ctx context.Context, p *getLvolsParams) (any, error) {
		stores, err := t.lvolStoresLocked(p)
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, s := range stores {
			for _, lv := range s.Lvols() {
				out = append(out, map[string]any{"uuid": lv.UUID(), "alias": lv.Alias(), "num_allocated_clusters": lv.NumAllocatedClusters()})
			}
		}
		return out, nil
	})
	m["bdev_lvol_set_parent"] = method(t, decodeLvol, req("lvol_name", "parent_name"), func(ctx context.Context, p *setParentParams) (any, error) {
		lv, err := t.lvolLocked(p.LvolName)
		if err != nil {
			return nil, err
		}
		parent, err := t.lvolLocked(p.ParentName)
		if err != nil {
			return nil, err
		}
		if parent.Store() != lv.Store() {
			return nil, asyncError(syscall.EINVAL)
		}
		if err := lv.Store().SetParent(lv, parent); err != nil {
			return nil, asyncError(err)
		}
		return true, nil
	})
	m["bdev_lvol_set_parent_bdev"] = method(t, decodeLvol, req("lvol_name", "parent_name"), func(ctx context.Context, p *setParentParams) (any, error) {
		lv, err := t.lvolLocked(p.LvolName)
		if err != nil {
			return nil, err
		}
		ext, ok := t.lookupLocked(p.ParentName)
		if !ok {
			// SPDK opens the parent in the operation, whose callback
			// answers (module/bdev/lvol/vbdev_lvol.c
			// vbdev_lvol_set_external_parent): -32602.
			return nil, asyncError(syscall.ENODEV)
		}
		if err := lv.Store().SetParentExternal(lv, ext.dev, ext.uuid); err != nil {
			return nil, asyncError(err)
		}
		return true, nil
	})
	m["bdev_lvol_set_xattr"] = method(t, decodeLvol, req("name", "xattr_name", "xattr_value"), func(ctx context.Context, p *setXattrParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			return nil, err
		}
		if err := lv.Store().SetXattr(lv, p.XattrName, p.XattrValue); err != nil {
			return nil, asyncError(err)
		}
		return true, nil
	})
	m["bdev_lvol_get_xattr"] = method(t, decodeLvol, req("name", "xattr_name"), func(ctx context.Context, p *getXattrParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			return nil, err
		}
		v, err := lv.Store().GetXattr(lv, p.XattrName)
		if err != nil {
			return nil, withCode(jsonrpc.CodeInternalError, err)
		}
		return v, nil
	})
	m["bdev_lvol_get_fragmap"] = method(t, decodeLvol, nil, func(ctx context.Context, p *fragmapParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			return nil, err
		}
		cs := lv.Store().ClusterSize()
		size := p.Size
		if size == 0 && uint64(lv.Size()) >= p.Offset {
			size = uint64(lv.Size()) - p.Offset
		}
		bitmap, err := lv.Fragmap(p.Offset, size)
		if err != nil {
			return nil, asyncError(err)
		}
		allocated := 0
		for _, b := range bitmap {
			allocated += bits.OnesCount8(b)
		}
		return map[string]any{
			"cluster_size":           cs,
			"num_clusters":           size / cs,
			"num_allocated_clusters": allocated,
			"fragmap":                base64.StdEncoding.EncodeToString(bitmap),
		}, nil
	})
	// Longhorn's fork (module/bdev/lvol/vbdev_lvol_rpc.c): registering
	// computes and stores the checksum; its failures are -32603 with
	// strerror. Reading one that is not registered (or not 8 bytes) is
	// -19 whatever the cause, which go-spdk-helper takes as "no checksum".
	m["bdev_lvol_register_snapshot_checksum"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			return nil, err
		}
		if err := lv.Store().RegisterSnapshotChecksum(lv); err != nil {
			return nil, withCode(jsonrpc.CodeInternalError, err)
		}
		return true, nil
	})
	m["bdev_lvol_get_snapshot_checksum"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		lv, err := t.lvolLocked(p.Name)
		if err != nil {
			return nil, err
		}
		sum, err := lv.Store().SnapshotChecksum(lv)
		if err != nil {
			return nil, errNoDevice
		}
		return map[string]uint64{"checksum": sum}, nil
	})
	m["bdev_lvol_start_shallow_copy"] = method(t, decodeLvol, req("src_lvol_name", "dst_bdev_name"), t.startShallowCopy)
	m["bdev_lvol_check_shallow_copy"] = method(t, decodeLvol, req("operation_id"), t.checkShallowCopy)
}

func (t *Target) createLvol(ctx context.Context, p *createLvolParams) (any, error) {
	s, err := t.selectStoreStrictLocked(p.UUID, p.LvsName)
	if err != nil {
		return nil, err
	}
	if !validClearMethod(p.ClearMethod) {
		// sic: SPDK's message for lvols says clean_method.
		return nil, &jsonrpc.Error{Code: -int(syscall.EINVAL), Message: "Invalid clean_method option"}
	}
	// SPDK_LVOL_NAME_MAX is 256 with the C string's NUL (lib/lvol/lvol.c
	// lvs_verify_lvol_name); a NUL byte would end SPDK's name early.
	if len(p.LvolName) == 0 || len(p.LvolName) > 255 || strings.IndexByte(p.LvolName, 0) >= 0 || p.SizeInMiB > 1<<43 {
		return nil, errInval
	}
	lv, err := s.CreateLvol(p.LvolName, p.SizeInMiB<<20, p.ThinProvision)
	if err != nil {
		// Name checks happen before any I/O in SPDK (negated errno); the
		// rest arrives through the completion callback (-32602).
		if e, ok := errnoOf(err); ok && (e == syscall.EEXIST || e == syscall.EINVAL) {
			return nil, errnoError(e)
		}
		return nil, asyncError(err)
	}
	t.log.Info("lvol created", "lvol", lv.Alias(), "uuid", lv.UUID(), "size", lv.Size(), "thin", p.ThinProvision)
	t.announceLocked(lv.UUID(), lv)
	return lv.UUID(), nil
}

// lvolStoresLocked is the lvstores bdev_lvol_get_lvols lists: the one
// selected by lvs_uuid or lvs_name, else all in creation order.
func (t *Target) lvolStoresLocked(p *getLvolsParams) ([]*lvstore.Store, error) {
	if p.LvsUUID == "" && p.LvsName == "" {
		return t.sortedStores(), nil
	}
	s, err := t.selectStoreLocked(p.LvsUUID, p.LvsName)
	if err != nil {
		return nil, err
	}
	return []*lvstore.Store{s}, nil
}
