package target

import (
	"context"
	"fmt"
	"strings"
	"syscall"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/lvstore"
)

// defaultClusterSize is SPDK's default cluster_sz (4 MiB).
const defaultClusterSize = 4 << 20

type createLvstoreParams struct {
	BdevName                  string  `json:"bdev_name"`
	LvsName                   string  `json:"lvs_name"`
	ClusterSz                 uint32  `json:"cluster_sz"`
	ClearMethod               *string `json:"clear_method"`
	NumMdPagesPerClusterRatio uint32  `json:"num_md_pages_per_cluster_ratio"`
}

type lvsSelector struct {
	UUID    string `json:"uuid"`
	LvsName string `json:"lvs_name"`
}

type renameLvstoreParams struct {
	OldName string `json:"old_name"`
	NewName string `json:"new_name"`
}

func (t *Target) lvstoreHandlers(m map[string]jsonrpc.Handler) {
	m["bdev_lvol_create_lvstore"] = method(t, decodeLvol, req("bdev_name", "lvs_name"), t.createLvstore)
	m["bdev_lvol_get_lvstores"] = method(t, decodeLvol, nil, func(ctx context.Context, p *lvsSelector) (any, error) {
		stores := t.sortedStores()
		if p.UUID != "" || p.LvsName != "" {
			s, err := t.selectStoreLocked(p.UUID, p.LvsName)
			if err != nil {
				return nil, err
			}
			stores = []*lvstore.Store{s}
		}
		out := []map[string]any{}
		for _, s := range stores {
			out = append(out, map[string]any{
				"uuid":                s.UUID(),
				"name":                s.Name(),
				"base_bdev":           t.baseOfStore(s),
				"total_data_clusters": s.TotalClusters(),
				"free_clusters":       s.FreeClusters(),
				"block_size":          s.BlockSize(),
				"cluster_size":        s.ClusterSize(),
			})
		}
		return out, nil
	})
	m["bdev_lvol_delete_lvstore"] = method(t, decodeLvol, nil, func(ctx context.Context, p *lvsSelector) (any, error) {
		s, err := t.selectStoreStrictLocked(p.UUID, p.LvsName)
		if err != nil {
			return nil, err
		}
		// SPDK unregisters every lvol bdev first (vbdev_lvs_destruct), so
		// whatever held one lets go of it.
		for _, lv := range s.Lvols() {
			if err := t.checkRemovableLocked(lvolView(lv)); err != nil {
				return nil, asyncError(syscall.EBUSY)
			}
		}
		for _, lv := range s.Lvols() {
			if !lv.IsDegraded() {
				t.hotRemoveLocked(lvolView(lv))
			}
		}
		if err := s.Destroy(); err != nil {
			return nil, asyncError(err)
		}
		delete(t.stores, s.UUID())
		for _, b := range t.bdevs {
			if b.store == s {
				b.store = nil
			}
		}
		t.log.Info("lvstore deleted", "lvstore", s.Name(), "uuid", s.UUID())
		return true, nil
	})
	m["bdev_lvol_rename_lvstore"] = method(t, decodeLvol, req("old_name", "new_name"), func(ctx context.Context, p *renameLvstoreParams) (any, error) {
		s, ok := t.storeByNameLocked(p.OldName)
		if !ok {
			return nil, &jsonrpc.Error{Code: -int(syscall.ENOENT), Message: fmt.Sprintf("Lvol store %s not found", p.OldName)}
		}
		if other, ok := t.storeByNameLocked(p.NewName); ok && other != s {
			return nil, asyncError(syscall.EEXIST)
		}
		if err := s.Rename(p.NewName); err != nil {
			return nil, asyncError(err)
		}
		return true, nil
	})
	m["bdev_lvol_grow_lvstore"] = method(t, decodeLvol, nil, func(ctx context.Context, p *lvsSelector) (any, error) {
		// The store is sized to its bdev when created; bdevs do not grow.
		if _, err := t.selectStoreStrictLocked(p.UUID, p.LvsName); err != nil {
			return nil, err
		}
		return true, nil
	})
}

func (t *Target) createLvstore(ctx context.Context, p *createLvstoreParams) (any, error) {
	if !validClearMethod(p.ClearMethod) {
		return nil, &jsonrpc.Error{Code: -int(syscall.EINVAL), Message: "Invalid clear_method parameter"}
	}
	if len(p.LvsName) == 0 || len(p.LvsName) > 63 {
		return nil, errInval
	}
	b, ok := t.bdevs[p.BdevName]
	if !ok {
		return nil, errNoDevice
	}
	if _, dup := t.storeByNameLocked(p.LvsName); dup {
		return nil, errnoError(syscall.EEXIST)
	}
	// SPDK opens the base for writing before anything else, which fails
	// on any claimed bdev, an lvstore's base included (lib/bdev/bdev.c
	// bdev_open): -1, synchronously.
	if b.store != nil || t.claimOf(baseView(b)) != "" || t.busyLocked(baseView(b)) {
		return nil, errnoError(syscall.EPERM)
	}
	cs := p.ClusterSz
	if cs == 0 {
		cs = defaultClusterSize
	}
	s, err := lvstore.Create(b.dev, p.LvsName, cs, lvstore.WithLogger(t.log.With("lvstore_bdev", b.name)),
		lvstore.WithMDPagesPerClusterRatio(p.NumMdPagesPerClusterRatio))
	if err != nil {
		return nil, asyncError(err)
	}
	t.stores[s.UUID()] = s
	b.store = s
	t.log.Info("lvstore created", "bdev", b.name, "lvstore", p.LvsName, "uuid", s.UUID(), "cluster_size", cs)
	return s.UUID(), nil
}

// selectStoreLocked picks an lvstore by at most one of uuid / name:
// both → -22, not found → -19.
func (t *Target) selectStoreLocked(uuid, name string) (*lvstore.Store, error) {
	if uuid != "" && name != "" {
		return nil, errInval
	}
	if uuid != "" {
		if s, ok := t.stores[uuid]; ok {
			return s, nil
		}
		return nil, errNoDevice
	}
	if s, ok := t.storeByNameLocked(name); ok {
		return s, nil
	}
	return nil, errNoDevice
}

// selectStoreStrictLocked requires exactly one of uuid / name.
func (t *Target) selectStoreStrictLocked(uuid, name string) (*lvstore.Store, error) {
	if (uuid == "") == (name == "") {
		return nil, errInval
	}
	return t.selectStoreLocked(uuid, name)
}

// validClearMethod reports whether SPDK takes a clear_method: absent, or
// none, unmap or write_zeroes in any case
// (module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_create_lvstore and
// rpc_bdev_lvol_create compare with strcasecmp). refengine clears nothing
// either way: its lvstores and lvols start out reading zeros.
func validClearMethod(m *string) bool {
	if m == nil {
		return true
	}
	for _, ok := range []string{"none", "unmap", "write_zeroes"} {
		if strings.EqualFold(*m, ok) {
			return true
		}
	}
	return false
}
