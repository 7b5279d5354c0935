package backupstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// BackupRequest describes one backup of a snapshot.
type BackupRequest struct {
	Volume   string
	Name     string
	Snapshot string
	// Size of the volume in bytes.
	Size   int64
	Labels map[string]string
	// Compression of the blocks this backup uploads (none when "").
	Compression Compression
	// Source reads the snapshot. ReadAt is called from several goroutines.
	Source io.ReaderAt
	// Previous names the backup this one is incremental to ("" = full).
	Previous string
	// Changed reports whether the block at offset may differ from the
	// Previous backup (the snapshot allocation diff). With a Previous and a
	// Changed, unchanged blocks are taken from Previous's block map without
	// reading them. A nil Changed means every block is read and hashed;
	// blocks the target already holds are still not uploaded.
	Changed func(offset int64) bool
	// Progress, if set, is called after each block.
	Progress func(Progress)
}

// BackupStats counts what a backup did.
type BackupStats struct {
	Blocks             int   // blocks of the volume
	BlocksReused       int   // taken from Previous's block map unread
	BlocksRead         int   // read from Source
	ZeroBlocks         int   // read and found all zero (never uploaded)
	BlocksUploaded     int   // put on the target
	BlocksDeduplicated int   // read, non-zero, already on the target
	BytesRead          int64 // from Source
	BytesUploaded      int64 // stored bytes (header and compressed payload)
}

// Backup stores a backup and returns its manifest. Blocks go up first, a
// few at a time; the manifest goes last, so a backup that fails or is
// cancelled leaves no manifest and does not exist (its blocks are reused
// by the next backup or collected by the next Delete).
func (s *Store) Backup(ctx context.Context, req BackupRequest) (*Manifest, BackupStats, error) {
	var stats BackupStats
	m, prev, err := s.prepareBackup(ctx, req)
	if err != nil {
		return nil, stats, err
	}
	req.Compression = m.Compression
	start := time.Now()
	n := int((req.Size + BlockSize - 1) / BlockSize)
	stats.Blocks = n
	slots := make([]string, n) // hash per block, "" = not in the map
	var prevHash map[int64]string
	if prev != nil {
		prevHash = prev.hashes()
	}

	var mu sync.Mutex // guards stats, seen, done
	seen := make(map[string]bool)
	done := 0
	finish := func(update func()) {
		mu.Lock()
		defer mu.Unlock()
		update()
		done++
		if req.Progress != nil {
			req.Progress(Progress{Done: done, Total: n})
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	for i := range n {
		off := int64(i) * BlockSize
		length := m.blockLen(off)
		if prev != nil && req.Changed != nil && !req.Changed(off) && prev.Size > off && prev.blockLen(off) == length {
			slots[i] = prevHash[off]
			finish(func() { stats.BlocksReused++ })
			continue
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			hash, put, err := s.backupBlock(gctx, req, off, length, &mu, seen)
			if err != nil {
				return err
			}
			if hash == ZeroHash {
				if _, had := prevHash[off]; !had {
					hash = "" // zero and never backed up: stays out of the map
				}
			}
			slots[i] = hash
			finish(func() {
				stats.BlocksRead++
				stats.BytesRead += length
				switch {
				case hash == ZeroHash || hash == "":
					stats.ZeroBlocks++
				case put > 0:
					stats.BlocksUploaded++
					stats.BytesUploaded += put
				default:
					stats.BlocksDeduplicated++
				}
			})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, stats, fmt.Errorf("backup %s of volume %s to %s: %w", req.Name, req.Volume, s.target, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, stats, fmt.Errorf("backup %s of volume %s: %w", req.Name, req.Volume, err)
	}
	for i, h := range slots {
		if h != "" {
			m.BlockMap = append(m.BlockMap, BlockEntry{Offset: int64(i) * BlockSize, SHA256: h})
		}
	}
	data, err := encodeManifest(m)
	if err != nil {
		return nil, stats, err
	}
	if err := s.target.Put(ctx, manifestKey(m.Volume, m.Name), data); err != nil {
		return nil, stats, fmt.Errorf("backup %s of volume %s: write manifest: %w", req.Name, req.Volume, err)
	}
	s.log.Info("backup stored", "target", s.target.String(), "volume", m.Volume, "backup", m.Name,
		"previous", req.Previous, "blocks", n, "read", stats.BlocksRead, "reused", stats.BlocksReused,
		"uploaded", stats.BlocksUploaded, "dedup", stats.BlocksDeduplicated, "zero", stats.ZeroBlocks,
		"bytesUploaded", stats.BytesUploaded, "elapsed", time.Since(start))
	return m, stats, nil
}

// prepareBackup validates the request, makes sure the backup does not
// exist yet and loads the previous manifest.
func (s *Store) prepareBackup(ctx context.Context, req BackupRequest) (m, prev *Manifest, err error) {
	if err := validName("volume", req.Volume); err != nil {
		return nil, nil, err
	}
	if err := validName("backup", req.Name); err != nil {
		return nil, nil, err
	}
	if req.Size <= 0 || req.Source == nil {
		return nil, nil, fmt.Errorf("backup %s of volume %s: need a size > 0 and a source", req.Name, req.Volume)
	}
	c := req.Compression
	if c == "" {
		c = CompressionNone
	}
	if !c.Valid() {
		return nil, nil, fmt.Errorf("backup %s: unknown compression %q", req.Name, c)
	}
	_, err = s.target.Stat(ctx, manifestKey(req.Volume, req.Name))
	switch {
	case err == nil:
		return nil, nil, fmt.Errorf("backup %s of volume %s: %w", req.Name, req.Volume, ErrExists)
	case !errors.Is(err, ErrNotFound):
		return nil, nil, fmt.Errorf("backup %s of volume %s: %w", req.Name, req.Volume, err)
	}
	if req.Previous != "" {
		if prev, err = s.Get(ctx, req.Volume, req.Previous); err != nil {
			return nil, nil, fmt.Errorf("backup %s: previous backup: %w", req.Name, err)
		}
	}
	m = &Manifest{
		Version: manifestVersion, Name: req.Name, Volume: req.Volume, Snapshot: req.Snapshot,
		CreatedAt: time.Now().UTC(), Size: req.Size, BlockSize: BlockSize,
		Labels: req.Labels, Compression: c, BlockMap: []BlockEntry{},
	}
	return m, prev, nil
}

// backupBlock reads one block, and unless it is zero or already stored,
// uploads it. It returns the block's hash and the bytes put (0 when
// nothing was uploaded).
func (s *Store) backupBlock(ctx context.Context, req BackupRequest, off, length int64, mu *sync.Mutex, seen map[string]bool) (string, int64, error) {
	buf := make([]byte, length)
	n, err := req.Source.ReadAt(buf, off)
	if n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", 0, fmt.Errorf("read source at %d: %w", off, err)
	}
	if isZero(buf) {
		return ZeroHash, 0, nil
	}
	sum := sha256.Sum256(buf)
	hash := hex.EncodeToString(sum[:])
	mu.Lock()
	dup := seen[hash]
	seen[hash] = true
	mu.Unlock()
	if dup {
		return hash, 0, nil
	}
	key := blockKey(req.Volume, hash)
	if _, err := s.target.Stat(ctx, key); err == nil {
		return hash, 0, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", 0, err
	}
	obj, err := encodeBlock(buf, req.Compression)
	if err != nil {
		return "", 0, err
	}
	if err := s.target.Put(ctx, key, obj); err != nil {
		return "", 0, err
	}
	return hash, int64(len(obj)), nil
}

var zeroPage [64 << 10]byte

// isZero reports whether b is all zero bytes.
func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
