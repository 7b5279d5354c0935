package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// RestoreRequest describes restoring one backup into a destination.
type RestoreRequest struct {
	Volume string
	Backup string
	// From is the backup the destination already holds exactly ("" means
	// the destination is new and reads as zeros). With From, only the
	// blocks that differ between the two manifests are written.
	From string
	Dest io.WriterAt
	// Zero, if set, makes the extent read as zeros (a hole punch or
	// write-zeroes); otherwise zeros are written through Dest.
	Zero func(offset, length int64) error
	// Progress, if set, is called after each block.
	Progress func(Progress)
}

// RestoreStats counts what a restore did.
type RestoreStats struct {
	Blocks       int   // blocks written or zeroed
	BlocksZeroed int   // of those, zeroed
	BytesWritten int64 // to Dest, zeros included
	BytesPulled  int64 // fetched from the target (stored, compressed size)
}

// restoreOp is one block to write: fetch hash, or zero when hash is ZeroHash.
type restoreOp struct {
	off, length int64
	hash        string
}

// Restore writes a backup into req.Dest. Every fetched block is decoded and
// checked against its SHA-256 before it is written; a missing block
// (ErrNotFound), a block that fails the check or a bad manifest
// (ErrCorrupt), or an unreachable target fails the restore, which then
// must not be taken as complete: the destination holds a mix.
func (s *Store) Restore(ctx context.Context, req RestoreRequest) (RestoreStats, error) {
	var stats RestoreStats
	if req.Dest == nil {
		return stats, fmt.Errorf("restore %s of volume %s: no destination", req.Backup, req.Volume)
	}
	to, err := s.Get(ctx, req.Volume, req.Backup)
	if err != nil {
		return stats, fmt.Errorf("restore: %w", err)
	}
	var from *Manifest
	if req.From != "" {
		if from, err = s.Get(ctx, req.Volume, req.From); err != nil {
			return stats, fmt.Errorf("restore %s: last restored backup: %w", req.Backup, err)
		}
	}
	ops := restoreDelta(from, to)
	start := time.Now()

	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	for _, op := range ops {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			pulled, err := s.restoreBlock(gctx, req, op)
			if err != nil {
				return fmt.Errorf("block at %d: %w", op.off, err)
			}
			mu.Lock()
			defer mu.Unlock()
			stats.Blocks++
			stats.BytesWritten += op.length
			stats.BytesPulled += pulled
			if op.hash == ZeroHash {
				stats.BlocksZeroed++
			}
			done++
			if req.Progress != nil {
				req.Progress(Progress{Done: done, Total: len(ops)})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return stats, fmt.Errorf("restore %s of volume %s from %s: %w", req.Backup, req.Volume, s.target, err)
	}
	if err := ctx.Err(); err != nil {
		return stats, fmt.Errorf("restore %s of volume %s: %w", req.Backup, req.Volume, err)
	}
	s.log.Info("backup restored", "target", s.target.String(), "volume", req.Volume, "backup", req.Backup,
		"from", req.From, "blocks", stats.Blocks, "zeroed", stats.BlocksZeroed,
		"bytesPulled", stats.BytesPulled, "elapsed", time.Since(start))
	return stats, nil
}

// restoreDelta lists the blocks to write to turn a destination holding
// from (nil: zeros) into one holding to. A block absent from a map reads
// as zero, so "absent" and ZeroHash are the same content: a block is
// written when its content differs, which covers blocks that changed,
// blocks that became zero (explicitly, or by leaving the map) and new
// blocks. Blocks beyond to's size are not touched.
func restoreDelta(from, to *Manifest) []restoreOp {
	content := func(h string) string {
		if h == "" {
			return ZeroHash
		}
		return h
	}
	toHash := to.hashes()
	var fromHash map[int64]string
	if from != nil {
		fromHash = from.hashes()
	}
	offsets := make(map[int64]bool, len(toHash)+len(fromHash))
	for off := range toHash {
		offsets[off] = true
	}
	for off := range fromHash {
		if off < to.Size {
			offsets[off] = true
		}
	}
	var ops []restoreOp
	for off := range offsets {
		want := content(toHash[off])
		if from != nil && content(fromHash[off]) == want && from.Size > off && from.blockLen(off) == to.blockLen(off) {
			continue
		}
		ops = append(ops, restoreOp{off: off, length: to.blockLen(off), hash: want})
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].off < ops[j].off })
	return ops
}

// restoreBlock writes one block and returns the bytes fetched for it.
func (s *Store) restoreBlock(ctx context.Context, req RestoreRequest, op restoreOp) (int64, error) {
	if op.hash == ZeroHash {
		if req.Zero != nil {
			return 0, req.Zero(op.off, op.length)
		}
		_, err := req.Dest.WriteAt(make([]byte, op.length), op.off)
		return 0, err
	}
	obj, err := s.target.Get(ctx, blockKey(req.Volume, op.hash))
	if err != nil {
		return 0, err
	}
	data, err := decodeBlock(obj)
	if err != nil {
		return int64(len(obj)), fmt.Errorf("%s: %w", op.hash, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != op.hash {
		return int64(len(obj)), corrupt("block %s decodes to data with sha256 %s", op.hash, got)
	}
	if int64(len(data)) != op.length {
		return int64(len(obj)), corrupt("block %s holds %d bytes, the volume's block at %d has %d", op.hash, len(data), op.off, op.length)
	}
	if _, err := req.Dest.WriteAt(data, op.off); err != nil {
		return int64(len(obj)), fmt.Errorf("write destination at %d: %w", op.off, err)
	}
	return int64(len(obj)), nil
}
