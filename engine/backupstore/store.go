package backupstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// DefaultConcurrency is how many blocks a backup or restore moves at once:
// enough to hide a round trip to S3, few enough that memory stays at a few
// times BlockSize.
const DefaultConcurrency = 4

// Store reads and writes backups on one target. It is safe for concurrent
// use, with one rule the caller keeps: Delete (which garbage-collects
// blocks) must not run while a Backup of the same volume is in flight, or
// the sweep may remove a block the backup counted as already stored.
// refengine serialises both per backup volume, as Longhorn does.
type Store struct {
	target      Target
	log         *slog.Logger
	concurrency int
}

// Options tune a Store; the zero value is usable.
type Options struct {
	// Concurrency bounds blocks in flight (DefaultConcurrency when 0).
	Concurrency int
	// Logger receives one line per backup, restore and deletion.
	Logger *slog.Logger
}

// New returns a Store over t.
func New(t Target, opts Options) *Store {
	s := &Store{target: t, log: opts.Logger, concurrency: opts.Concurrency}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.concurrency <= 0 {
		s.concurrency = DefaultConcurrency
	}
	return s
}

// Target returns the store's target.
func (s *Store) Target() Target { return s.target }

// Progress is reported after every block a backup or restore has dealt
// with. Calls are serialised.
type Progress struct {
	Done, Total int
}

// Get returns the manifest of one backup. ErrNotFound when there is none;
// ErrCorrupt when it cannot be parsed or names another volume or backup.
func (s *Store) Get(ctx context.Context, volume, backup string) (*Manifest, error) {
	if err := validName("volume", volume); err != nil {
		return nil, err
	}
	if err := validName("backup", backup); err != nil {
		return nil, err
	}
	key := manifestKey(volume, backup)
	data, err := s.target.Get(ctx, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("backup %s of volume %s: %w", backup, volume, err)
		}
		return nil, err
	}
	m, err := decodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("backup %s of volume %s on %s: %w", backup, volume, s.target, err)
	}
	if m.Volume != volume || m.Name != backup {
		return nil, fmt.Errorf("backup %s of volume %s on %s: %w: manifest names backup %s of volume %s",
			backup, volume, s.target, ErrCorrupt, m.Name, m.Volume)
	}
	return m, nil
}
