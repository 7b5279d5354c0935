package instance

import (
	"context"
	"fmt"
	"sort"

	"github.com/faultline/faultline/engine/improto"
)

// backingImageCopies lists this node's copies of backing images.
func (m *Manager) backingImageCopies(ctx context.Context) ([]improto.BackingImageCopy, error) {
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return nil, err
	}
	var out []improto.BackingImageCopy
	for _, s := range stores {
		sl, err := m.readStore(ctx, s.UUID)
		if err != nil {
			return nil, err
		}
		for n, lv := range sl.byName {
			image := imageOfLvol(n)
			if image == "" || !lv.Driver.Lvol.Snapshot || n != backingImageLvol(image, s.UUID) {
				continue
			}
			out = append(out, improto.BackingImageCopy{Image: image, Lvol: n, LvstoreName: s.Name, LvstoreUUID: s.UUID, Clones: sl.children[n]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lvol < out[j].Lvol })
	return out, nil
}

// deleteBackingImage deletes this node's copies of an image that no lvol
// is cloned from, and answers how many it deleted. A copy something still
// clones is kept and reported: deleting it would merge the image into that
// clone. Deleting what is not there is fine.
func (m *Manager) deleteBackingImage(ctx context.Context, image string) (int, error) {
	if err := checkName("backing image", image); err != nil {
		return 0, err
	}
	copies, err := m.backingImageCopies(ctx)
	if err != nil {
		return 0, err
	}
	deleted := 0
	var busy []string
	for _, c := range copies {
		if c.Image != image {
			continue
		}
		if c.Clones > 0 {
			busy = append(busy, fmt.Sprintf("%s/%s (%d clones)", c.LvstoreName, c.Lvol, c.Clones))
			continue
		}
		if err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": c.LvstoreName + "/" + c.Lvol}, nil); err != nil && !isCode(err, codeNoDevice) {
			return deleted, fmt.Errorf("delete backing image copy %s/%s: %w", c.LvstoreName, c.Lvol, err)
		}
		deleted++
		m.log.Info("backing image copy deleted", "image", image, "lvol", c.Lvol, "lvstore", c.LvstoreName)
	}
	if len(busy) > 0 {
		return deleted, fmt.Errorf("backing image %s is still cloned: %v", image, busy)
	}
	return deleted, nil
}
