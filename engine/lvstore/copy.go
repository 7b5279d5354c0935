package lvstore

import (
	"context"
	"fmt"
	"slices"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// ShallowCopy copies every cluster src itself owns (not its ancestors')
// into dst at the same offset, leaving dst untouched elsewhere, then
// flushes dst. src must be read-only (EPERM) and dst at least as large
// (EINVAL). While it runs, operations that would change src's clusters
// fail with EBUSY. progress, if set, is called after each cluster with
// the number copied and the total.
func (s *Store) ShallowCopy(ctx context.Context, src *Lvol, dst bdev.Device, progress func(copied, total uint64)) error {
	what := fmt.Sprintf("shallow copy of %s", lvName(src))
	s.mdMu.Lock()
	list, err := s.startCopyLocked(src, dst)
	s.mdMu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() {
		s.mdMu.Lock()
		src.busy--
		s.mdMu.Unlock()
	}()
	cs := int64(s.sb.clusterSize)
	buf := make([]byte, cs)
	total := uint64(len(list))
	for i, ci := range list {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		src.mu.RLock()
		err := src.usableLocked()
		if err == nil {
			_, err = s.dev.ReadAt(buf, s.physOff(src.clusters[ci]))
		}
		src.mu.RUnlock()
		if err != nil {
			return fmt.Errorf("%s: read cluster %d: %w", what, ci, err)
		}
		if _, err := dst.WriteAt(buf, int64(ci)*cs); err != nil {
			return fmt.Errorf("%s: write cluster %d: %w", what, ci, err)
		}
		if progress != nil {
			progress(uint64(i+1), total)
		}
	}
	if err := dst.Flush(); err != nil {
		return fmt.Errorf("%s: flush destination: %w", what, err)
	}
	return nil
}

// startCopyLocked checks the preconditions, marks src busy and returns the
// clusters to copy in order. Caller holds mdMu.
func (s *Store) startCopyLocked(src *Lvol, dst bdev.Device) ([]uint32, error) {
	if err := s.liveLocked(src); err != nil {
		return nil, err
	}
	if dst == nil {
		return nil, errno(syscall.ENODEV, "destination bdev missing")
	}
	if d, ok := dst.(*Lvol); ok && d == src {
		return nil, errno(syscall.EINVAL, "destination is the source")
	}
	size := int64(src.numClusters) * int64(s.sb.clusterSize)
	switch {
	case !src.readOnly:
		return nil, errno(syscall.EPERM, "lvol %s is not read-only", src.name)
	case dst.Size() < size:
		return nil, errno(syscall.EINVAL, "destination of %d bytes is smaller than %s (%d bytes)", dst.Size(), src.name, size)
	case dst.BlockSize() <= 0 || int(s.sb.blockSize)%dst.BlockSize() != 0:
		return nil, errno(syscall.EINVAL, "destination block size %d does not divide %d", dst.BlockSize(), s.sb.blockSize)
	}
	src.mu.RLock()
	list := make([]uint32, 0, len(src.clusters))
	for ci := range src.clusters {
		list = append(list, ci)
	}
	src.mu.RUnlock()
	slices.Sort(list)
	src.busy++
	return list, nil
}
