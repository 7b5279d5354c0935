package instance

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/engine/api"
)

// clusterSize of the lvstores the instance manager creates.
const clusterSize = 1 << 20

// baseBdev is the part of a bdev_get_bdevs object that tells disks apart.
type baseBdev struct {
	Name        string `json:"name"`
	ProductName string `json:"product_name"`
}

// ensureLvstores gives every aio disk without an lvstore one, named after
// the disk, with 1 MiB clusters.
func (m *Manager) ensureLvstores(ctx context.Context) error {
	var bdevs []baseBdev
	if err := m.t.Call(ctx, "bdev_get_bdevs", nil, &bdevs); err != nil {
		return fmt.Errorf("list disks: %w", err)
	}
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for _, s := range stores {
		has[s.BaseBdev] = true
	}
	for _, b := range bdevs {
		if b.ProductName != "AIO disk" || has[b.Name] {
			continue
		}
		var uuid string
		err := m.t.Call(ctx, "bdev_lvol_create_lvstore", map[string]any{"bdev_name": b.Name, "lvs_name": b.Name, "cluster_sz": clusterSize}, &uuid)
		if err != nil {
			return fmt.Errorf("create lvstore on disk %s: %w", b.Name, err)
		}
		m.log.Info("lvstore created", "disk", b.Name, "lvs_uuid", uuid)
	}
	return nil
}

// disks describes every lvstore for the heartbeat.
func (m *Manager) disks(ctx context.Context) ([]api.Disk, error) {
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return nil, err
	}
	out := make([]api.Disk, 0, len(stores))
	for _, s := range stores {
		out = append(out, api.Disk{
			Name: s.BaseBdev, LvstoreUUID: s.UUID, LvstoreName: s.Name,
			TotalBytes: s.TotalClusters * s.ClusterSize, FreeBytes: s.FreeClusters * s.ClusterSize,
		})
	}
	return out, nil
}
