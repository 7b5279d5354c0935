package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// Restores, Longhorn v2 style. A replica restores a backup by itself: the
// delta between the backup it holds in full (lastRestored, the head xattr
// restore_last) and the requested one is written into a scratch lvol
// <replica>-restore, cloned from the snapshot of lastRestored. The scratch
// is flushed and snapshotted as <replica>-snap-restore-<hash of backup>, the head
// is re-parented onto that snapshot (the head of a restoring replica holds
// no data of its own), the scratch and the previous restore snapshot go,
// and only then is restore_last advanced: that xattr is the commit point,
// so any failure or interruption before it leaves lastRestored where it
// was. Every restoreSnapshot(replica, b) holds exactly backup b's image.

const (
	// restoreLastXattr names, on a replica's head, the backup it holds in
	// full.
	restoreLastXattr = "restore_last"
	restoreSufx      = "-restore"
	restoreSnapPfx   = "restore-"
	// codeBusy answers a restore start while another backup is being
	// restored into the replica (EBUSY).
	codeBusy = -16
)

// scratchLvol is the lvol a restore writes into.
func scratchLvol(replica string) string { return replica + restoreSufx }

// restoreSnapshot is the snapshot holding backup's image on a replica:
// <replica>-snap-restore-<8 hex of a hash of the backup's name>. The hash
// keeps the name within an lvol name's 63 bytes (a backup name is up to 63
// itself; Longhorn's are 23), and it is deterministic, so the snapshot of
// lastRestored is found again after a restart.
func restoreSnapshot(replica, backup string) string {
	sum := sha256.Sum256([]byte(backup))
	return replica + snapInfix + restoreSnapPfx + hex.EncodeToString(sum[:4])
}

// restoreJob is the running or last restore of one replica.
type restoreJob struct {
	cancel context.CancelFunc
	done   chan struct{}
	// status is guarded by jobs.mu; its LastRestored is never set here
	// (the head's xattr is the truth).
	status improto.RestoreStatus
}

// stop cancels the job and waits until its goroutine has ended.
func (r *restoreJob) stop() {
	r.cancel()
	<-r.done
}

// readXattr reads an lvol xattr; an absent one reads as "".
func (m *Manager) readXattr(ctx context.Context, lvs, name, key string) (string, error) {
	var v string
	err := m.t.Call(ctx, "bdev_lvol_get_xattr", map[string]any{"name": lvs + "/" + name, "xattr_name": key}, &v)
	if err != nil {
		// An absent xattr is an internal error carrying ENOENT's text.
		if strings.Contains(err.Error(), "No such file") {
			return "", nil
		}
		return "", fmt.Errorf("read xattr %s of %s/%s: %w", key, lvs, name, err)
	}
	return v, nil
}

// restoreFrom returns the backup a restore into the replica can start from:
// its lastRestored, when that backup's snapshot is in the head's chain;
// else "" (a full restore).
func (m *Manager) restoreFrom(ctx context.Context, lvs, replica string) (string, error) {
	last, err := m.readXattr(ctx, lvs, replica, restoreLastXattr)
	if err != nil || last == "" {
		return "", err
	}
	head, ok, err := getLvol(ctx, m.t, lvs, replica)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("replica %s: head lvol is missing on disk", replica)
	}
	chain, err := chainOf(ctx, m.t, lvs, head)
	if err != nil {
		return "", err
	}
	for _, n := range chain {
		if n == restoreSnapshot(replica, last) {
			return last, nil
		}
	}
	m.log.Warn("last restored backup has no snapshot under the head: restoring in full", "replica", replica, "last_restored", last)
	return "", nil
}

// startRestore starts restoring a backup into a replica, or answers the
// status of the same restore already running. The start is serialised
// with replica creation and deletion, which interrupt restores.
func (m *Manager) startRestore(ctx context.Context, req improto.ReplicaRestoreRequest) (improto.RestoreStatus, error) {
	if err := checkName("backup", req.Backup); err != nil {
		return improto.RestoreStatus{}, err
	}
	if err := checkName("volume", req.Volume); err != nil {
		return improto.RestoreStatus{}, err
	}
	if req.Target.URL == "" {
		return improto.RestoreStatus{}, fmt.Errorf("restore %s: no backup target URL", req.Backup)
	}
	m.repMu.Lock()
	defer m.repMu.Unlock()
	r, err := m.knownReplica(req.Replica)
	if err != nil {
		return improto.RestoreStatus{}, err
	}
	j := m.jobs
	j.mu.Lock()
	cur := j.restores[req.Replica]
	var st improto.RestoreStatus
	running := cur != nil && cur.status.IsRestoring
	if running {
		st = cur.status
	}
	j.mu.Unlock()
	if running {
		if st.Backup != req.Backup {
			return st, jsonrpc.Errorf(codeBusy, "Device or resource busy: replica %s is restoring backup %s", req.Replica, st.Backup)
		}
		st.LastRestored, err = m.readXattr(ctx, r.LvstoreName, req.Replica, restoreLastXattr)
		return st, err
	}
	from, err := m.restoreFrom(ctx, r.LvstoreName, req.Replica)
	if err != nil {
		return improto.RestoreStatus{}, err
	}
	job := &restoreJob{status: improto.RestoreStatus{Replica: req.Replica, Backup: req.Backup}}
	j.mu.Lock()
	defer j.mu.Unlock()
	if from == req.Backup {
		done := make(chan struct{})
		close(done)
		job.cancel, job.done = func() {}, done
		job.status.State, job.status.Progress = improto.JobComplete, 100
	} else {
		job.status.IsRestoring, job.status.State = true, improto.JobInProgress
		job.cancel, job.done, err = j.startLocked(func(ctx context.Context) {
			m.runRestore(ctx, job, r, req, from)
		})
		if err != nil {
			return improto.RestoreStatus{}, err
		}
		m.log.Info("restore started", "replica", req.Replica, "backup", req.Backup, "from", from, "target", req.Target.URL, "rate_limit", req.RateLimit)
	}
	j.restores[req.Replica] = job
	st = job.status
	st.LastRestored = from
	return st, nil
}

// runRestore is a restore job's goroutine. An interruption (the context
// cancelled by a replica restart or deletion, or the node closing) is not a
// restore error: the job then reports neither state nor error.
func (m *Manager) runRestore(ctx context.Context, job *restoreJob, r improto.ReplicaInfo, req improto.ReplicaRestoreRequest, from string) {
	start := time.Now()
	stats, err := m.restore(ctx, job, r, req, from)
	j := m.jobs
	j.mu.Lock()
	defer j.mu.Unlock()
	st := &job.status
	st.IsRestoring = false
	st.BytesPulled = stats.BytesPulled
	switch {
	case err == nil:
		st.State, st.Progress = improto.JobComplete, 100
		m.log.Info("restore complete", "replica", req.Replica, "backup", req.Backup, "from", from,
			"blocks", stats.Blocks, "bytes_pulled", stats.BytesPulled, "elapsed", time.Since(start))
	case ctx.Err() != nil:
		st.State, st.Error = "", ""
		m.log.Info("restore interrupted", "replica", req.Replica, "backup", req.Backup, "err", err)
	default:
		st.State, st.Error = improto.JobError, err.Error()
		m.log.Warn("restore failed", "replica", req.Replica, "backup", req.Backup, "err", err)
	}
}

// restore writes the delta into a fresh scratch lvol and commits it.
func (m *Manager) restore(ctx context.Context, job *restoreJob, r improto.ReplicaInfo, req improto.ReplicaRestoreRequest, from string) (backupstore.RestoreStats, error) {
	var stats backupstore.RestoreStats
	lvs := r.LvstoreName
	store, err := openStore(ctx, req.Target)
	if err != nil {
		return stats, fmt.Errorf("restore %s: %w", req.Backup, err)
	}
	man, err := store.Get(ctx, req.Volume, req.Backup)
	if err != nil {
		return stats, fmt.Errorf("restore: %w", err)
	}
	head, ok, err := getLvol(ctx, m.t, lvs, req.Replica)
	if err != nil {
		return stats, err
	}
	if !ok {
		return stats, fmt.Errorf("restore %s: head of replica %s is missing", req.Backup, req.Replica)
	}
	if man.Size > head.size() {
		return stats, fmt.Errorf("restore %s: backup of %d bytes does not fit replica %s of %d bytes", req.Backup, man.Size, req.Replica, head.size())
	}
	scratch := scratchLvol(req.Replica)
	if err := m.deleteLvol(ctx, lvs, scratch); err != nil {
		return stats, fmt.Errorf("restore %s: remove leftover scratch: %w", req.Backup, err)
	}
	if _, done, err := getLvol(ctx, m.t, lvs, restoreSnapshot(req.Replica, req.Backup)); err != nil {
		return stats, err
	} else if done {
		// An earlier run wrote, flushed and snapshotted this backup and
		// stopped before its commit point: finish that commit.
		m.log.Info("restore snapshot already on disk: finishing its commit", "replica", req.Replica, "backup", req.Backup)
		return stats, m.commitRestore(ctx, r, from, req.Backup)
	}
	if from != "" {
		err = m.call(ctx, "bdev_lvol_clone", map[string]any{"snapshot_name": lvs + "/" + restoreSnapshot(req.Replica, from), "clone_name": scratch})
	} else {
		err = m.call(ctx, "bdev_lvol_create", map[string]any{"lvol_name": scratch, "size_in_mib": (head.size() + mib - 1) / mib, "thin_provision": true, "lvs_name": lvs})
	}
	if err != nil {
		return stats, fmt.Errorf("restore %s: create scratch: %w", req.Backup, err)
	}
	dev, ok := m.t.Bdev(lvs + "/" + scratch)
	if !ok {
		return stats, fmt.Errorf("restore %s: scratch %s/%s vanished", req.Backup, lvs, scratch)
	}
	dest := pacedDevice{ctx: ctx, dev: dev, lim: newLimiter(req.RateLimit)}
	stats, err = store.Restore(ctx, backupstore.RestoreRequest{
		Volume: req.Volume, Backup: req.Backup, From: from, Dest: dest, Zero: dest.WriteZeroes,
		Progress: func(p backupstore.Progress) {
			m.jobs.mu.Lock()
			job.status.Progress = percent(p)
			m.jobs.mu.Unlock()
		},
	})
	if err != nil {
		return stats, err
	}
	// A restore whose data did not reach the disk is not restored
	// (Longhorn v2 #13965): a flush error fails it before any commit.
	if err := dev.Flush(); err != nil {
		return stats, fmt.Errorf("restore %s: flush scratch %s/%s: %w", req.Backup, lvs, scratch, err)
	}
	if err := ctx.Err(); err != nil {
		return stats, err
	}
	if err := m.call(ctx, "bdev_lvol_snapshot", map[string]any{"lvol_name": lvs + "/" + scratch, "snapshot_name": restoreSnapshot(req.Replica, req.Backup)}); err != nil {
		return stats, fmt.Errorf("restore %s: snapshot scratch: %w", req.Backup, err)
	}
	return stats, m.commitRestore(ctx, r, from, req.Backup)
}

// commitRestore puts the head on the backup's restore snapshot, drops the
// scratch and the restore snapshots no longer needed, and then records the
// backup as restored: the xattr is the commit point.
func (m *Manager) commitRestore(ctx context.Context, r improto.ReplicaInfo, from, backup string) error {
	lvs, replica := r.LvstoreName, r.Name
	snap := restoreSnapshot(replica, backup)
	err := m.t.Call(ctx, "bdev_lvol_set_parent", map[string]any{"lvol_name": lvs + "/" + replica, "parent_name": lvs + "/" + snap}, nil)
	if err != nil && !isCode(err, codeExists) {
		return fmt.Errorf("restore %s: re-parent head onto %s: %w", backup, snap, err)
	}
	if err := m.deleteLvol(ctx, lvs, scratchLvol(replica)); err != nil {
		return fmt.Errorf("restore %s: remove scratch: %w", backup, err)
	}
	if err := m.dropRestoreSnapshots(ctx, r, snap, restoreSnapshot(replica, from)); err != nil {
		return fmt.Errorf("restore %s: %w", backup, err)
	}
	err = m.t.Call(ctx, "bdev_lvol_set_xattr", map[string]any{"name": lvs + "/" + replica, "xattr_name": restoreLastXattr, "xattr_value": backup}, nil)
	if err != nil {
		return fmt.Errorf("restore %s: record last restored: %w", backup, err)
	}
	return nil
}

// dropRestoreSnapshots deletes, among the replica's restore snapshots
// other than keep, the previous one (prev) when the new snapshot is its
// only child (the lvstore merges it, metadata only), and any that nothing
// depends on any more, which keeps the chain one restore snapshot long.
func (m *Manager) dropRestoreSnapshots(ctx context.Context, r improto.ReplicaInfo, keep, prev string) error {
	sl, err := m.readStore(ctx, r.LvstoreUUID)
	if err != nil {
		return err
	}
	prefix := r.Name + snapInfix + restoreSnapPfx
	for n := range sl.byName {
		if n == keep || !strings.HasPrefix(n, prefix) || m.backingUp(r.LvstoreName, n) {
			continue
		}
		if kids := sl.children[n]; kids == 0 || n == prev && kids == 1 {
			if err := m.deleteLvol(ctx, r.LvstoreName, n); err != nil {
				return fmt.Errorf("drop restore snapshot: %w", err)
			}
		}
	}
	return nil
}

// deleteLvol deletes an lvol; a missing one is fine.
func (m *Manager) deleteLvol(ctx context.Context, lvs, name string) error {
	err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": lvs + "/" + name}, nil)
	if err != nil && !isCode(err, codeNoDevice) {
		return fmt.Errorf("delete lvol %s/%s: %w", lvs, name, err)
	}
	return nil
}

// restoreStatus answers im_replica_restore_status: the running or last
// job, with lastRestored read from the head.
func (m *Manager) restoreStatus(ctx context.Context, replica string) (improto.RestoreStatus, error) {
	r, err := m.knownReplica(replica)
	if err != nil {
		return improto.RestoreStatus{}, err
	}
	st := improto.RestoreStatus{Replica: replica}
	m.jobs.mu.Lock()
	if job := m.jobs.restores[replica]; job != nil {
		st = job.status
	}
	m.jobs.mu.Unlock()
	st.LastRestored, err = m.readXattr(ctx, r.LvstoreName, replica, restoreLastXattr)
	return st, err
}

// forgetRestore drops a deleted replica's last restore job.
func (j *jobs) forgetRestore(replica string) {
	j.mu.Lock()
	delete(j.restores, replica)
	j.mu.Unlock()
}
