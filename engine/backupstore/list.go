package backupstore

import (
	"context"
	"fmt"
	"sort"
)

// ListVolumes returns the names of the volumes that have at least one
// backup on the target, sorted. It lists the whole volumes/ tree, blocks
// included: callers poll it at the backup target's poll interval, not per
// request.
func (s *Store) ListVolumes(ctx context.Context) ([]string, error) {
	keys, err := s.target.List(ctx, "volumes/")
	if err != nil {
		return nil, fmt.Errorf("list backup volumes: %w", err)
	}
	set := make(map[string]bool)
	for _, k := range keys {
		if v, _, ok := parseManifestKey(k); ok {
			set[v] = true
		}
	}
	vols := make([]string, 0, len(set))
	for v := range set {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	return vols, nil
}

// backupNames returns the names of the backups of volume, sorted.
func (s *Store) backupNames(ctx context.Context, volume string) ([]string, error) {
	if err := validName("volume", volume); err != nil {
		return nil, err
	}
	keys, err := s.target.List(ctx, volumeDir(volume)+"backups/")
	if err != nil {
		return nil, fmt.Errorf("list backups of volume %s: %w", volume, err)
	}
	var names []string
	for _, k := range keys {
		if v, b, ok := parseManifestKey(k); ok && v == volume {
			names = append(names, b)
		}
	}
	sort.Strings(names)
	return names, nil
}

// ListBackups returns the manifests of every backup of volume, oldest
// first. A manifest that cannot be read fails the listing: it is either a
// target problem or corruption, and neither should pass for "no backup".
func (s *Store) ListBackups(ctx context.Context, volume string) ([]*Manifest, error) {
	names, err := s.backupNames(ctx, volume)
	if err != nil {
		return nil, err
	}
	out := make([]*Manifest, 0, len(names))
	for _, name := range names {
		m, err := s.Get(ctx, volume, name)
		if err != nil {
			return nil, fmt.Errorf("list backups of volume %s: %w", volume, err)
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}
