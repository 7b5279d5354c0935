package instance

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/raid1"
)

// Every replica has a write-intent bitmap beside its head: a small thick
// lvol <replica>-bitmap, exported over NBD under the same name, that the
// engine marks before each write reaches the replica and reads back after
// a crash to know which regions to compare (engine/raid1). It lives outside
// the head's chain, so snapshots, rebuilds and reverts never copy it; it is
// deleted with the replica.

// bitmapLvol is the name of a replica's bitmap lvol and of its export.
func bitmapLvol(replica string) string { return replica + "-bitmap" }

// withBitmap fills in the bitmap export of a replica an engine assembles:
// by convention it is the replica export's name with "-bitmap".
func withBitmap(r improto.EngineReplica) improto.EngineReplica {
	if r.Bitmap == "" {
		r.Bitmap = bitmapLvol(r.Export)
	}
	return r
}

// ensureBitmap creates, formats and exports a replica's bitmap when it
// does not exist, and exports it when it does. A bitmap made for a head
// that already held data (made by a version without bitmaps) says so, and
// the next engine compares every region once.
func (m *Manager) ensureBitmap(ctx context.Context, s lvstoreInfo, replica string, volumeSize int64, headExisted bool) error {
	name := bitmapLvol(replica)
	full := s.Name + "/" + name
	_, ok, err := getLvol(ctx, m.t, s.Name, name)
	if err != nil {
		return err
	}
	if !ok {
		sizeMiB := (raid1.IntentDeviceSize(volumeSize) + mib - 1) / mib
		err := m.t.Call(ctx, "bdev_lvol_create", map[string]any{"lvol_name": name, "size_in_mib": sizeMiB, "thin_provision": false, "lvs_name": s.Name}, nil)
		if err != nil {
			return fmt.Errorf("create write-intent bitmap %s: %w", full, err)
		}
		dev, found := m.t.Bdev(full)
		if !found {
			return fmt.Errorf("write-intent bitmap %s missing right after create", full)
		}
		if err := raid1.FormatIntent(dev, volumeSize, headExisted); err != nil {
			m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": full}, nil)
			return fmt.Errorf("replica %s: %w", replica, err)
		}
		m.log.Info("write-intent bitmap created", "replica", replica, "lvol", full, "all_dirty", headExisted)
	}
	if err := m.export(ctx, s.Name, name); err != nil {
		return fmt.Errorf("export write-intent bitmap of %s: %w", replica, err)
	}
	return nil
}
