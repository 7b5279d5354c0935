package lvstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"slices"
	"syscall"
)

// ChecksumXattr is the xattr in which Longhorn's SPDK fork keeps a
// snapshot's registered checksum (lib/lvol/lvol.c, LVOL_SNAPSHOT_CHECKSUM):
// the checksum's 8 bytes in host (little-endian) order, so that it persists
// with the snapshot in the lvstore's metadata.
const ChecksumXattr = "checksum"

var crc64ISO = crc64.MakeTable(crc64.ISO)

// RegisterSnapshotChecksum computes snapshot lv's checksum and stores it in
// ChecksumXattr. As the fork's spdk_bs_snapshot_checksum does, it is a
// CRC-64/ISO (reflected) chained over every cluster the snapshot itself
// owns, in ascending cluster order, each cluster read whole; clusters it
// does not own are skipped. A non-snapshot is EPERM, an lvol being copied
// EBUSY.
func (s *Store) RegisterSnapshotChecksum(lv *Lvol) error {
	return s.mdOp(fmt.Sprintf("register checksum of %s", lvName(lv)), func() error {
		if err := s.liveLocked(lv); err != nil {
			return err
		}
		if !lv.IsSnapshot() {
			return errno(syscall.EPERM, "lvol %s is not a snapshot", lv.name)
		}
		if lv.busy > 0 {
			return errno(syscall.EBUSY, "a copy of %s is in progress", lv.name)
		}
		sum, err := lv.checksum()
		if err != nil {
			return err
		}
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], sum)
		return s.setXattrLocked(lv, ChecksumXattr, string(v[:]))
	})
}

// checksum reads the clusters lv owns. Caller holds mdMu.
func (lv *Lvol) checksum() (uint64, error) {
	s := lv.s
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	cis := make([]uint32, 0, len(lv.clusters))
	for ci := range lv.clusters {
		if uint64(ci) < lv.numClusters {
			cis = append(cis, ci)
		}
	}
	slices.Sort(cis)
	buf := make([]byte, s.sb.clusterSize)
	var sum uint64
	for _, ci := range cis {
		if _, err := s.dev.ReadAt(buf, s.physOff(lv.clusters[ci])); err != nil {
			return 0, fmt.Errorf("read cluster %d: %w", ci, err)
		}
		sum = crc64.Update(sum, crc64ISO, buf)
	}
	return sum, nil
}

// SnapshotChecksum returns lv's registered checksum: ENOENT when none is
// registered, EDOM when the xattr does not hold 8 bytes (as the fork's
// spdk_lvol_get_snapshot_checksum).
func (s *Store) SnapshotChecksum(lv *Lvol) (uint64, error) {
	v, err := s.GetXattr(lv, ChecksumXattr)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errno(syscall.EDOM, "checksum xattr of %s has %d bytes", lv.name, len(v))
	}
	return binary.LittleEndian.Uint64([]byte(v)), nil
}

// dropChecksumLocked forgets the registered checksum of snapshot lv whose
// data is about to change (inflate, decouple, or a merge into it), as the
// fork does. Caller holds mdMu and lv.mu.
func (lv *Lvol) dropChecksumLocked() {
	if lv.snapshot {
		delete(lv.xattrs, ChecksumXattr)
	}
}
