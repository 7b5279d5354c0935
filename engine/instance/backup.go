package instance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/engine/improto"
)

// Backups. A backup reads one of a replica's snapshot lvols,
// <replica>-snap-<snapshot>, through its bdev and stores it on a backup
// target with package backupstore. The node runs it in the background and
// keeps its status by backup name; the manager starts it and polls. The
// snapshot is protected while it is read: deleting the replica's lvols
// stops the job first (stopReplica), and purges skip it.

// backupJob is one backup on this node.
type backupJob struct {
	lvol   string // "<lvs>/<snapshot lvol>" being read
	cancel context.CancelFunc
	done   chan struct{}
	status improto.BackupJobStatus // guarded by jobs.mu
}

// stop cancels the job and waits until it no longer reads its snapshot.
func (b *backupJob) stop() {
	b.cancel()
	<-b.done
}

// openStore opens a backup target as the request describes it.
func openStore(ctx context.Context, t improto.BackupTarget) (*backupstore.Store, error) {
	if t.URL == "" {
		return nil, fmt.Errorf("backup target: no URL")
	}
	tg, err := backupstore.Open(ctx, t.URL, backupstore.Credential{AccessKey: t.AccessKey, SecretKey: t.SecretKey, Endpoint: t.Endpoint})
	if err != nil {
		return nil, err
	}
	return backupstore.New(tg, backupstore.Options{}), nil
}

// startBackup starts backing up a replica's snapshot, or answers the status
// of the backup of that name when this node already knows it (running or
// finished, successfully or not).
func (m *Manager) startBackup(ctx context.Context, req improto.ReplicaBackupRequest) (improto.BackupJobStatus, error) {
	if err := checkName("backup", req.Backup); err != nil {
		return improto.BackupJobStatus{}, err
	}
	if err := checkName("snapshot", req.Snapshot); err != nil {
		return improto.BackupJobStatus{}, err
	}
	comp := backupstore.Compression(req.Compression)
	if comp == "" {
		comp = backupstore.CompressionLZ4
	}
	if !comp.Valid() {
		return improto.BackupJobStatus{}, fmt.Errorf("backup %s: unknown compression %q", req.Backup, req.Compression)
	}
	if st, ok := m.backupStatus(req.Backup); ok {
		return st, nil
	}
	r, err := m.knownReplica(req.Replica)
	if err != nil {
		return improto.BackupJobStatus{}, err
	}
	snap := req.Replica + snapInfix + req.Snapshot
	lv, ok, err := getLvol(ctx, m.t, r.LvstoreName, snap)
	if err != nil {
		return improto.BackupJobStatus{}, err
	}
	if !ok || !lv.Driver.Lvol.Snapshot {
		return improto.BackupJobStatus{}, errNotFound("snapshot", r.LvstoreName+"/"+snap)
	}
	full := r.LvstoreName + "/" + snap
	j := m.jobs
	j.mu.Lock()
	defer j.mu.Unlock()
	if b, ok := j.backups[req.Backup]; ok { // started meanwhile
		return b.status, nil
	}
	b := &backupJob{lvol: full, status: improto.BackupJobStatus{
		Backup: req.Backup, Replica: req.Replica, State: improto.JobInProgress, Size: lv.size(),
	}}
	b.cancel, b.done, err = j.startLocked(func(ctx context.Context) {
		m.runBackup(ctx, b, req, comp)
	})
	if err != nil {
		return improto.BackupJobStatus{}, err
	}
	j.backups[req.Backup] = b
	m.log.Info("backup started", "backup", req.Backup, "volume", req.Volume, "replica", req.Replica, "snapshot", snap, "target", req.Target.URL)
	return b.status, nil
}

// runBackup is a backup job's goroutine.
func (m *Manager) runBackup(ctx context.Context, b *backupJob, req improto.ReplicaBackupRequest, comp backupstore.Compression) {
	start := time.Now()
	man, stats, err := m.backup(ctx, b, req, comp)
	j := m.jobs
	j.mu.Lock()
	defer j.mu.Unlock()
	st := &b.status
	st.BytesRead, st.BytesUploaded = stats.BytesRead, stats.BytesUploaded
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopped because the replica's lvols are being deleted or the
		// node is closing: the backup does not exist (no manifest).
		st.State, st.Error = improto.JobError, fmt.Sprintf("backup interrupted (replica deleted or node stopping): %v", err)
		m.log.Warn("backup interrupted", "backup", req.Backup, "replica", req.Replica, "err", err)
	case err != nil:
		st.State, st.Error = improto.JobError, err.Error()
		m.log.Warn("backup failed", "backup", req.Backup, "replica", req.Replica, "err", err)
	default:
		st.State, st.Progress, st.Size = improto.JobComplete, 100, man.Size
		st.CreatedAt = man.CreatedAt.UTC().Format(time.RFC3339)
		m.log.Info("backup complete", "backup", req.Backup, "replica", req.Replica, "bytes_read", stats.BytesRead,
			"bytes_uploaded", stats.BytesUploaded, "elapsed", time.Since(start))
	}
	j.finished = append(j.finished, req.Backup)
	for len(j.finished) > maxFinishedBackups {
		delete(j.backups, j.finished[0])
		j.finished = j.finished[1:]
	}
}

// backup opens the target and stores the snapshot on it.
func (m *Manager) backup(ctx context.Context, b *backupJob, req improto.ReplicaBackupRequest, comp backupstore.Compression) (*backupstore.Manifest, backupstore.BackupStats, error) {
	store, err := openStore(ctx, req.Target)
	if err != nil {
		return nil, backupstore.BackupStats{}, fmt.Errorf("backup %s: %w", req.Backup, err)
	}
	dev, ok := m.t.Bdev(b.lvol)
	if !ok {
		return nil, backupstore.BackupStats{}, fmt.Errorf("backup %s: snapshot %s vanished", req.Backup, b.lvol)
	}
	var changed func(int64) bool
	if req.Previous != "" && req.PreviousSnapshot != "" {
		lvs, snap, _ := strings.Cut(b.lvol, "/")
		diff, ok, err := m.changedSince(ctx, lvs, snap, req.Replica+snapInfix+req.PreviousSnapshot)
		if err != nil {
			return nil, backupstore.BackupStats{}, fmt.Errorf("backup %s: %w", req.Backup, err)
		}
		if ok {
			changed = diff
		}
	}
	return store.Backup(ctx, backupstore.BackupRequest{
		Volume: req.Volume, Name: req.Backup, Snapshot: req.Snapshot, Size: dev.Size(),
		Labels: req.Labels, Compression: comp, Source: dev, Previous: req.Previous, Changed: changed,
		Progress: func(p backupstore.Progress) {
			m.jobs.mu.Lock()
			b.status.Progress = percent(p)
			m.jobs.mu.Unlock()
		},
	})
}

// percent turns block progress into 0-99: 100 is left for the job's
// commit (the manifest, or the restore's snapshot and xattr).
func percent(p backupstore.Progress) int {
	if p.Total <= 0 {
		return 0
	}
	return min(99, p.Done*100/p.Total)
}

// backupStatus returns a known backup job's status.
func (m *Manager) backupStatus(name string) (improto.BackupJobStatus, bool) {
	m.jobs.mu.Lock()
	defer m.jobs.mu.Unlock()
	b, ok := m.jobs.backups[name]
	if !ok {
		return improto.BackupJobStatus{}, false
	}
	return b.status, true
}

// getBackup answers im_replica_backup_status; an unknown backup is -19
// (the manager takes it for a job lost in a node restart).
func (m *Manager) getBackup(name string) (improto.BackupJobStatus, error) {
	st, ok := m.backupStatus(name)
	if !ok {
		return st, errNotFound("backup", name)
	}
	return st, nil
}

// backingUp reports whether a backup job is reading the lvol
// "<lvs>/<name>" now.
func (m *Manager) backingUp(lvs, name string) bool {
	full := lvs + "/" + name
	m.jobs.mu.Lock()
	defer m.jobs.mu.Unlock()
	for _, b := range m.jobs.backups {
		if b.lvol == full && b.status.State == improto.JobInProgress {
			return true
		}
	}
	return false
}
