package instance

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/faultline/faultline/engine/api"
)

// clusterSize of the lvstores the instance manager creates.
const clusterSize = 1 << 20

// baseBdev is the part of a bdev_get_bdevs object that tells disks apart.
type baseBdev struct {
	Name           string `json:"name"`
	ProductName    string `json:"product_name"`
	DriverSpecific struct {
		ErrorDisk *struct {
			BaseBdev string `json:"base_bdev"`
		} `json:"error_disk"`
	} `json:"driver_specific"`
}

// diskBdevs maps the bdev each disk's lvstore lives (or is to live) on to
// the disk's name: the aio bdev itself, or the error bdev the node layered
// over it (--disk-error-injection), so that the disk keeps its name either
// way.
func (m *Manager) diskBdevs(ctx context.Context) (map[string]string, error) {
	var bdevs []baseBdev
	if err := m.t.Call(ctx, "bdev_get_bdevs", nil, &bdevs); err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	aio := map[string]bool{}
	for _, b := range bdevs {
		if b.ProductName == "AIO disk" {
			aio[b.Name] = true
		}
	}
	out := map[string]string{}
	for n := range aio {
		out[n] = n
	}
	for _, b := range bdevs {
		if e := b.DriverSpecific.ErrorDisk; e != nil && aio[e.BaseBdev] {
			delete(out, e.BaseBdev)
			out[b.Name] = e.BaseBdev
		}
	}
	return out, nil
}

// ensureLvstores gives every disk without an lvstore one, named after the
// disk, with 1 MiB clusters.
func (m *Manager) ensureLvstores(ctx context.Context) error {
	disks, err := m.diskBdevs(ctx)
	if err != nil {
		return err
	}
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for _, s := range stores {
		has[s.BaseBdev] = true
	}
	for _, bdevName := range slices.Sorted(maps.Keys(disks)) {
		disk := disks[bdevName]
		if has[bdevName] {
			continue
		}
		var uuid string
		err := m.t.Call(ctx, "bdev_lvol_create_lvstore", map[string]any{"bdev_name": bdevName, "lvs_name": disk, "cluster_sz": clusterSize}, &uuid)
		if err != nil {
			return fmt.Errorf("create lvstore on disk %s (bdev %s): %w", disk, bdevName, err)
		}
		m.log.Info("lvstore created", "disk", disk, "bdev", bdevName, "lvs_uuid", uuid)
	}
	return nil
}

// disks describes every lvstore for the heartbeat.
func (m *Manager) disks(ctx context.Context) ([]api.Disk, error) {
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return nil, err
	}
	names, err := m.diskBdevs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Disk, 0, len(stores))
	for _, s := range stores {
		name := names[s.BaseBdev]
		if name == "" {
			name = s.BaseBdev
		}
		out = append(out, api.Disk{
			Name: name, LvstoreUUID: s.UUID, LvstoreName: s.Name,
			TotalBytes: s.TotalClusters * s.ClusterSize, FreeBytes: s.FreeClusters * s.ClusterSize,
		})
	}
	return out, nil
}
