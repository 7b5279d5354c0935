package instance

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/faultline/faultline/engine/backupstore"
)

// changedSince is the allocation diff of an incremental backup (spec F2):
// a block of snapshot snap can differ from snapshot prev only where an lvol
// after prev in snap's chain owns a cluster, because every other cluster
// reads through to prev or older, which never change. Merged snapshots
// (deleted ones, purged rebuild snapshots) only make the later lvols own
// more, so the diff may be larger than the change, never smaller. ok is
// false when prev is not in snap's chain (deleted, or the replica was
// rebuilt without it): then every block is read.
func (m *Manager) changedSince(ctx context.Context, lvs, snap, prev string) (changed func(off int64) bool, ok bool, err error) {
	info, found, err := getLvol(ctx, m.t, lvs, snap)
	if err != nil || !found {
		return nil, false, err
	}
	chain, err := chainOf(ctx, m.t, lvs, info)
	if err != nil {
		return nil, false, err
	}
	i := slices.Index(chain, prev)
	if i < 0 {
		return nil, false, nil
	}
	var union []byte
	var clusterSize int64
	for _, name := range chain[i+1:] {
		var fm struct {
			ClusterSize int64  `json:"cluster_size"`
			Fragmap     string `json:"fragmap"`
		}
		if err := m.t.Call(ctx, "bdev_lvol_get_fragmap", map[string]any{"name": lvs + "/" + name}, &fm); err != nil {
			return nil, false, fmt.Errorf("allocation of %s/%s: %w", lvs, name, err)
		}
		bits, err := base64.StdEncoding.DecodeString(fm.Fragmap)
		if err != nil {
			return nil, false, fmt.Errorf("allocation of %s/%s: %w", lvs, name, err)
		}
		if clusterSize != 0 && fm.ClusterSize != clusterSize || fm.ClusterSize <= 0 {
			return nil, false, fmt.Errorf("allocation of %s/%s: cluster size %d", lvs, name, fm.ClusterSize)
		}
		clusterSize = fm.ClusterSize
		if len(bits) > len(union) {
			union = append(union, make([]byte, len(bits)-len(union))...)
		}
		for j, b := range bits {
			union[j] |= b
		}
	}
	return func(off int64) bool {
		for c := off / clusterSize; c*clusterSize < off+backupstore.BlockSize; c++ {
			if c/8 < int64(len(union)) && union[c/8]&(1<<(c%8)) != 0 {
				return true
			}
		}
		return false
	}, true, nil
}
