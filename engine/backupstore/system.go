package backupstore

import (
	"context"
	"errors"
	"fmt"
)

// A system backup lives apart from the volumes, under
// system-backups/<name>/: bundle.json (the cluster's configuration, opaque
// here) and backingimages/<image>.img (each backing image's contents).
// The volumes' data are ordinary backups under volumes/.
const systemBackupsDir = "system-backups/"

// MaxSystemBackupObject bounds one object of a system backup: objects are
// written and read whole, in memory.
const MaxSystemBackupObject = 1 << 30

// SystemBackupBundleKey is the key of a system backup's bundle.
func SystemBackupBundleKey(name string) string {
	return systemBackupsDir + name + "/bundle.json"
}

func systemBackupImageKey(name, image string) string {
	return systemBackupsDir + name + "/backingimages/" + image + ".img"
}

// PutSystemBackupBundle stores a system backup's bundle. Write it after
// the backing images: a bundle that can be read is a complete system
// backup.
func (s *Store) PutSystemBackupBundle(ctx context.Context, name string, bundle []byte) error {
	if err := validName("system backup", name); err != nil {
		return err
	}
	if len(bundle) > MaxSystemBackupObject {
		return fmt.Errorf("system backup %s: bundle of %d bytes exceeds %d", name, len(bundle), MaxSystemBackupObject)
	}
	return s.target.Put(ctx, SystemBackupBundleKey(name), bundle)
}

// GetSystemBackupBundle reads a system backup's bundle; ErrNotFound when
// the target holds none of that name.
func (s *Store) GetSystemBackupBundle(ctx context.Context, name string) ([]byte, error) {
	if err := validName("system backup", name); err != nil {
		return nil, err
	}
	data, err := s.target.Get(ctx, SystemBackupBundleKey(name))
	if err != nil {
		return nil, fmt.Errorf("system backup %s on %s: %w", name, s.target, err)
	}
	return data, nil
}

// PutSystemBackupImage stores one backing image's contents with a system
// backup.
func (s *Store) PutSystemBackupImage(ctx context.Context, name, image string, data []byte) error {
	if err := validName("system backup", name); err != nil {
		return err
	}
	if err := validName("backing image", image); err != nil {
		return err
	}
	if len(data) > MaxSystemBackupObject {
		return fmt.Errorf("system backup %s: backing image %s of %d bytes exceeds %d", name, image, len(data), MaxSystemBackupObject)
	}
	return s.target.Put(ctx, systemBackupImageKey(name, image), data)
}

// GetSystemBackupImage reads one backing image's contents back.
func (s *Store) GetSystemBackupImage(ctx context.Context, name, image string) ([]byte, error) {
	if err := validName("system backup", name); err != nil {
		return nil, err
	}
	if err := validName("backing image", image); err != nil {
		return nil, err
	}
	data, err := s.target.Get(ctx, systemBackupImageKey(name, image))
	if err != nil {
		return nil, fmt.Errorf("backing image %s of system backup %s on %s: %w", image, name, s.target, err)
	}
	return data, nil
}

// DeleteSystemBackup removes every object of a system backup, the bundle
// first so that an interrupted deletion never leaves a bundle whose images
// are gone. Deleting one that is not there succeeds.
func (s *Store) DeleteSystemBackup(ctx context.Context, name string) error {
	if err := validName("system backup", name); err != nil {
		return err
	}
	if err := s.target.Delete(ctx, SystemBackupBundleKey(name)); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	keys, err := s.target.List(ctx, systemBackupsDir+name+"/")
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	for _, k := range keys {
		if err := s.target.Delete(ctx, k); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}
