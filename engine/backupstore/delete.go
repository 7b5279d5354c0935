package backupstore

import (
	"context"
	"fmt"
)

// GCStats counts what a garbage collection did.
type GCStats struct {
	BlocksKept    int
	BlocksDeleted int
}

// Delete removes a backup: its manifest first (from then on the backup
// does not exist), then every block of the volume that no remaining
// manifest references. Deleting a backup that is not there is ErrNotFound.
// If the sweep fails, the backup is still gone and GC can be run again.
func (s *Store) Delete(ctx context.Context, volume, backup string) (GCStats, error) {
	if err := validName("volume", volume); err != nil {
		return GCStats{}, err
	}
	if err := validName("backup", backup); err != nil {
		return GCStats{}, err
	}
	// Stat, not Get: a backup whose manifest is corrupt must still be
	// deletable.
	if _, err := s.target.Stat(ctx, manifestKey(volume, backup)); err != nil {
		return GCStats{}, fmt.Errorf("delete backup %s of volume %s: %w", backup, volume, err)
	}
	if err := s.target.Delete(ctx, manifestKey(volume, backup)); err != nil {
		return GCStats{}, fmt.Errorf("delete backup %s of volume %s: %w", backup, volume, err)
	}
	st, err := s.GC(ctx, volume)
	if err != nil {
		return st, fmt.Errorf("delete backup %s of volume %s: %w", backup, volume, err)
	}
	s.log.Info("backup deleted", "target", s.target.String(), "volume", volume, "backup", backup,
		"blocksDeleted", st.BlocksDeleted, "blocksKept", st.BlocksKept)
	return st, nil
}

// GC deletes the blocks of volume that no manifest of volume references:
// mark from every manifest, then sweep the rest. Any manifest that cannot
// be read stops it before it deletes anything, since its blocks would be
// swept as unreferenced. It must not run while a backup of the volume is
// in flight (see Store).
func (s *Store) GC(ctx context.Context, volume string) (GCStats, error) {
	var st GCStats
	manifests, err := s.ListBackups(ctx, volume)
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	live := make(map[string]bool)
	for _, m := range manifests {
		for _, e := range m.BlockMap {
			live[e.SHA256] = true
		}
	}
	keys, err := s.target.List(ctx, volumeDir(volume)+"blocks/")
	if err != nil {
		return st, fmt.Errorf("gc: list blocks of volume %s: %w", volume, err)
	}
	for _, k := range keys {
		if h, ok := parseBlockKey(volume, k); ok && live[h] {
			st.BlocksKept++
			continue
		}
		if err := s.target.Delete(ctx, k); err != nil {
			return st, fmt.Errorf("gc: %w", err)
		}
		st.BlocksDeleted++
	}
	return st, nil
}
