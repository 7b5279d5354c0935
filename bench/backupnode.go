package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"time"

	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/nbd"
)

// Operations of the node rows: the same backups and restores as the store
// rows, through a refengine node.
const (
	opNodeFullBackup  = "node-full-backup"
	opNodeIncrBackup  = "node-incr-backup"
	opNodeFullRestore = "node-full-restore"
	opNodeIncrRestore = "node-incr-restore"
)

// Replica names the node rows use (a replica name ends in -r-<8 alnum>).
const (
	nodeSourceReplica  = "bench-r-source01"
	nodeRestoreReplica = "bench-r-restore1"
	nodeBackupVolume   = "bench-node"
)

// backupNode measures what refengine itself does: the volume is a replica
// on a refengine node (an lvol exported over NBD); backups read its
// snapshots on the node (im_replica_backup_*), the incremental one only
// the blocks the allocation diff since the first snapshot names; restores
// pull into another replica through a scratch lvol committed by snapshot
// (im_replica_restore_*). The rows share the target's baselines. The
// volume is written through NBD first and put back to v0 at the end.
func (e *env) backupNode(ctx context.Context, kind string, tgt improto.BackupTarget, vol *benchVolume, changed []int,
	objects, upBase, downBase string) []BackupResult {
	fail := func(op string, err error) []BackupResult {
		return []BackupResult{{Target: kind, Op: op, Error: err.Error()}}
	}
	n, err := e.startNodeDisk(ctx, "node-backup-"+kind, 3*vol.size+512<<20)
	if err != nil {
		return fail(opNodeFullBackup, err)
	}
	defer func() {
		if err := vol.rewrite(changed, 0); err != nil {
			e.log.Warn("volume not reset", "err", err)
		}
	}()
	src, err := n.replica(ctx, nodeSourceReplica, vol.size)
	if err != nil {
		return fail(opNodeFullBackup, err)
	}
	defer src.Close()
	if err := copyBlocks(src, vol, nil); err != nil {
		return fail(opNodeFullBackup, err)
	}
	if err := n.call(ctx, "im_replica_snapshot", map[string]any{"name": nodeSourceReplica, "snapshot": "s0"}, nil); err != nil {
		return fail(opNodeFullBackup, err)
	}
	backup := func(op, name, snap, prev, prevSnap string) BackupResult {
		return e.timed(ctx, BackupResult{Target: kind, Op: op, Baseline: upBase}, vol.size, []string{n.disk},
			func(r *BackupResult) error {
				st, err := n.backup(ctx, improto.ReplicaBackupRequest{
					Replica: nodeSourceReplica, Snapshot: snap, Target: tgt, Volume: nodeBackupVolume, Backup: name,
					Compression: "lz4", Previous: prev, PreviousSnapshot: prevSnap,
				})
				r.BytesRead, r.BytesUploaded = st.BytesRead, st.BytesUploaded
				return err
			})
	}
	var out []BackupResult
	v0 := vol.snapshot()
	out = append(out, backup(opNodeFullBackup, "node-b0", "s0", "", ""))
	if err := vol.rewrite(changed, 1); err != nil {
		return append(out, BackupResult{Target: kind, Op: opNodeIncrBackup, Error: err.Error()})
	}
	if err := copyBlocks(src, vol, changed); err != nil {
		return append(out, BackupResult{Target: kind, Op: opNodeIncrBackup, Error: err.Error()})
	}
	if err := n.call(ctx, "im_replica_snapshot", map[string]any{"name": nodeSourceReplica, "snapshot": "s1"}, nil); err != nil {
		return append(out, BackupResult{Target: kind, Op: opNodeIncrBackup, Error: err.Error()})
	}
	v1 := vol.snapshot()
	out = append(out, backup(opNodeIncrBackup, "node-b1", "s1", "node-b0", "s0"))

	dst, err := n.replica(ctx, nodeRestoreReplica, vol.size)
	if err != nil {
		return append(out, BackupResult{Target: kind, Op: opNodeFullRestore, Error: err.Error()})
	}
	defer dst.Close()
	restore := func(op, name string, want []uint64) BackupResult {
		return e.timed(ctx, BackupResult{Target: kind, Op: op, Baseline: downBase}, vol.size, []string{objects},
			func(r *BackupResult) error {
				st, err := n.restore(ctx, improto.ReplicaRestoreRequest{Replica: nodeRestoreReplica, Target: tgt, Volume: nodeBackupVolume, Backup: name})
				r.BytesPulled = st.BytesPulled
				return err
			}, func() error { return verifyDevice(dst, vol, want) })
	}
	out = append(out, restore(opNodeFullRestore, "node-b0", v0))
	out = append(out, restore(opNodeIncrRestore, "node-b1", v1))
	return out
}

// replica creates a replica on the node and connects to its export.
func (n *node) replica(ctx context.Context, name string, size int64) (*nbd.Client, error) {
	var info improto.ReplicaInfo
	err := n.call(ctx, improto.MethodReplicaCreate, improto.ReplicaCreateRequest{Name: name, Volume: nodeBackupVolume, LvstoreName: n.lvs, Size: size}, &info)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := nbd.Dial(dctx, "tcp", n.nbdAddr, info.Export)
	if err != nil {
		return nil, fmt.Errorf("node %s: replica %s: %w", n.name, name, err)
	}
	return c, nil
}

// jobPoll is how often a node's backup or restore job is asked about.
const jobPoll = 20 * time.Millisecond

// backup runs a backup job on the node to its end.
func (n *node) backup(ctx context.Context, req improto.ReplicaBackupRequest) (improto.BackupJobStatus, error) {
	var st improto.BackupJobStatus
	if err := n.call(ctx, improto.MethodReplicaBackupStart, req, &st); err != nil {
		return st, err
	}
	for st.State == improto.JobInProgress {
		if err := sleepCtx(ctx, jobPoll); err != nil {
			return st, err
		}
		if err := n.call(ctx, improto.MethodReplicaBackupStatus, improto.BackupNameRequest{Backup: req.Backup}, &st); err != nil {
			return st, err
		}
	}
	if st.State != improto.JobComplete {
		return st, fmt.Errorf("backup %s: %s: %s", req.Backup, st.State, st.Error)
	}
	return st, nil
}

// restore runs a restore job on the node to its end.
func (n *node) restore(ctx context.Context, req improto.ReplicaRestoreRequest) (improto.RestoreStatus, error) {
	var st improto.RestoreStatus
	if err := n.call(ctx, improto.MethodReplicaRestoreStart, req, &st); err != nil {
		return st, err
	}
	for st.IsRestoring {
		if err := sleepCtx(ctx, jobPoll); err != nil {
			return st, err
		}
		if err := n.call(ctx, improto.MethodReplicaRestoreStatus, improto.ReplicaNameRequest{Replica: req.Replica}, &st); err != nil {
			return st, err
		}
	}
	if st.LastRestored != req.Backup {
		return st, fmt.Errorf("restore %s into %s: state %q, error %q, last restored %q", req.Backup, req.Replica, st.State, st.Error, st.LastRestored)
	}
	return st, nil
}

// copyBlocks writes the volume's blocks (all, or those listed) to dev and
// flushes it.
func copyBlocks(dev *nbd.Client, vol *benchVolume, list []int) error {
	f, err := os.Open(vol.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if list == nil {
		list = make([]int, vol.blocks())
		for i := range list {
			list[i] = i
		}
	}
	buf := make([]byte, blockSize)
	for _, i := range list {
		off := int64(i) * blockSize
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if _, err := dev.WriteAt(buf, off); err != nil {
			return fmt.Errorf("write block %d: %w", i, err)
		}
	}
	return dev.Flush()
}

// verifyDevice reads dev and reports the first block whose content differs
// from want.
func verifyDevice(dev *nbd.Client, vol *benchVolume, want []uint64) error {
	buf := make([]byte, blockSize)
	for i, w := range want {
		if _, err := dev.ReadAt(buf, int64(i)*blockSize); err != nil {
			return fmt.Errorf("verify the restored replica: %w", err)
		}
		if maphash.Bytes(vol.hashed, buf) != w {
			return fmt.Errorf("the restored replica's block %d (offset %d) differs from what was backed up", i, int64(i)*blockSize)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
