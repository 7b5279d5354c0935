package lvstore

import (
	"sync"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/bdev"
)

// maxLvolClusters bounds an lvol's size: cluster indexes are uint32.
const maxLvolClusters = 1<<32 - 1

// Lvol is a logical volume. It is a bdev.Device; Close is a no-op because
// every caller shares the one *Lvol the store holds.
type Lvol struct {
	s        *Store
	id       uuid
	uuidText string

	// mu guards everything below. I/O holds it shared (exclusive to
	// allocate); metadata operations hold it exclusive, which freezes I/O.
	mu          sync.RWMutex
	name        string
	thin        bool
	readOnly    bool
	snapshot    bool
	parent      *Lvol
	extUUID     string
	extDev      bdev.Device // nil while degraded
	numClusters uint64
	created     int64
	clusters    map[uint32]uint32 // virtual -> physical cluster
	xattrs      map[string]string
	// order places the lvol in creation order (SPDK lists lvols and clones
	// as created); set once under s.topoMu when the lvol is added.
	order    uint64
	deleted  bool
	busy     int    // shallow copies reading this lvol; under s.mdMu
	mapStamp uint64 // s.epoch when the data path last changed clusters
}

var _ bdev.Device = (*Lvol)(nil)

func checkName(kind, name string) error {
	limit := maxLvolNameLen
	if kind == "lvstore" {
		limit = maxStoreNameLen
	}
	if len(name) == 0 || len(name) > limit {
		return errno(syscall.EINVAL, "%s name %q must be 1-%d bytes", kind, name, limit)
	}
	return nil
}

func checkXattr(k, v string) error {
	if len(k) == 0 || len(k) > maxXattrKey {
		return errno(syscall.EINVAL, "xattr name %q must be 1-%d bytes", k, maxXattrKey)
	}
	if len(v) > maxXattrVal {
		return errno(syscall.EINVAL, "xattr %q value of %d bytes exceeds %d", k, len(v), maxXattrVal)
	}
	return nil
}

// Name is the lvol name within its store.
func (lv *Lvol) Name() string {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	return lv.name
}

// UUID is the lvol UUID, which is also its bdev name.
func (lv *Lvol) UUID() string { return lv.uuidText }

// Alias is "<lvstore name>/<lvol name>".
func (lv *Lvol) Alias() string { return lv.s.Name() + "/" + lv.Name() }

// Store is the lvstore holding the lvol.
func (lv *Lvol) Store() *Store { return lv.s }

// IsSnapshot reports whether lv is a snapshot: made by Snapshot, or a
// read-only lvol that has clones (SPDK's spdk_blob_is_snapshot asks whether
// the blob has a list of clones, however it became read-only).
func (lv *Lvol) IsSnapshot() bool {
	lv.mu.RLock()
	snap, ro := lv.snapshot, lv.readOnly
	lv.mu.RUnlock()
	if snap || !ro {
		return snap
	}
	for _, c := range lv.s.byCreation() {
		if c.Parent() == lv {
			return true
		}
	}
	return false
}

// IsClone reports whether the lvol has a parent snapshot in the store.
func (lv *Lvol) IsClone() bool { lv.mu.RLock(); defer lv.mu.RUnlock(); return lv.parent != nil }

// IsEsnapClone reports whether the lvol is backed by an external bdev.
func (lv *Lvol) IsEsnapClone() bool { lv.mu.RLock(); defer lv.mu.RUnlock(); return lv.extUUID != "" }

// IsThin reports whether clusters are allocated on first write.
func (lv *Lvol) IsThin() bool { lv.mu.RLock(); defer lv.mu.RUnlock(); return lv.thin }

// IsReadOnly reports whether writes are refused.
func (lv *Lvol) IsReadOnly() bool { lv.mu.RLock(); defer lv.mu.RUnlock(); return lv.readOnly }

// IsDegraded reports whether the lvol's external snapshot is missing.
func (lv *Lvol) IsDegraded() bool {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	return lv.extUUID != "" && lv.extDev == nil
}

// Parent is the parent snapshot, or nil.
func (lv *Lvol) Parent() *Lvol { lv.mu.RLock(); defer lv.mu.RUnlock(); return lv.parent }

// ExternalParent is the UUID of the external snapshot, or "".
func (lv *Lvol) ExternalParent() string { lv.mu.RLock(); defer lv.mu.RUnlock(); return lv.extUUID }

// CreationTime is when the lvol was created.
func (lv *Lvol) CreationTime() time.Time {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	return time.Unix(0, lv.created).UTC()
}

// Children are the lvols whose parent is lv, in creation order.
func (lv *Lvol) Children() []*Lvol {
	var out []*Lvol
	for _, c := range lv.s.byCreation() {
		if c.Parent() == lv {
			out = append(out, c)
		}
	}
	return out
}

// NumClusters is the size in clusters.
func (lv *Lvol) NumClusters() uint64 { lv.mu.RLock(); defer lv.mu.RUnlock(); return lv.numClusters }

// NumAllocatedClusters is the number of clusters the lvol itself owns.
func (lv *Lvol) NumAllocatedClusters() uint64 {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	return uint64(len(lv.clusters))
}

// Size is the size in bytes.
func (lv *Lvol) Size() int64 {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	return int64(lv.numClusters * uint64(lv.s.sb.clusterSize))
}

// BlockSize is the store's block size.
func (lv *Lvol) BlockSize() int { return int(lv.s.sb.blockSize) }

// Close is a no-op: the store owns the lvol.
func (lv *Lvol) Close() error { return nil }

// Xattrs returns a copy of the lvol's xattrs.
func (lv *Lvol) Xattrs() map[string]string {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	out := make(map[string]string, len(lv.xattrs))
	for k, v := range lv.xattrs {
		out[k] = v
	}
	return out
}

// Fragmap returns a bitmap with one bit per cluster of [off, off+size)
// (bit i is byte i/8, bit i%8, least significant first) set where lv itself
// owns the cluster. size 0 means up to the end. off and size must be
// cluster-aligned and inside the lvol (EINVAL).
func (lv *Lvol) Fragmap(off, size uint64) ([]byte, error) {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	cs := uint64(lv.s.sb.clusterSize)
	total := lv.numClusters * cs
	if size == 0 && off <= total {
		size = total - off
	}
	if off%cs != 0 || size%cs != 0 || off > total || size > total-off {
		return nil, errno(syscall.EINVAL, "fragmap of %s: range %d+%d not cluster-aligned inside %d bytes", lv.name, off, size, total)
	}
	first, n := off/cs, size/cs
	bm := make([]byte, (n+7)/8)
	if n <= uint64(len(lv.clusters)) {
		for i := range n {
			if _, ok := lv.clusters[uint32(first+i)]; ok {
				bm[i/8] |= 1 << (i % 8)
			}
		}
	} else {
		for ci := range lv.clusters {
			if i := uint64(ci) - first; uint64(ci) >= first && i < n {
				bm[i/8] |= 1 << (i % 8)
			}
		}
	}
	return bm, nil
}
