package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Kinds of the backup resources.
const (
	KindBackup       = "backup"
	KindBackupVolume = "backupVolume"
)

// Backup states (status.state), as Longhorn's.
const (
	BackupStateNew        = "New"
	BackupStateInProgress = "InProgress"
	BackupStateCompleted  = "Completed"
	BackupStateError      = "Error"
)

// Backup is one backup of a volume's snapshot on a backup target. Backups
// taken here start New and are carried out by a node holding an RW
// replica; backups found on a target by a sync appear Completed.
type Backup struct {
	Name   string       `json:"name"`
	Spec   BackupSpec   `json:"spec"`
	Status BackupStatus `json:"status"`
}

// BackupSpec says what to back up and where.
type BackupSpec struct {
	// Volume is the volume's name on the target (the source volume's
	// name; for backups found by a sync, the name the target holds).
	Volume string `json:"volume"`
	// SnapshotName is the volume snapshot the backup reads.
	SnapshotName     string            `json:"snapshotName"`
	BackupTargetName string            `json:"backupTargetName"`
	Labels           map[string]string `json:"labels,omitempty"`
	// Compression is none, lz4 or gzip (default lz4).
	Compression string `json:"compression,omitempty"`
	// Deleting is set by DELETE: the controller removes the backup from
	// the target (collecting blocks no other backup uses), then the record.
	Deleting bool `json:"deleting,omitempty"`
}

// BackupStatus is the backup's progress and result.
type BackupStatus struct {
	State    string `json:"state"`
	Progress int    `json:"progress"` // percent
	Error    string `json:"error,omitempty"`
	// URL locates the backup for a restore (BackupURL).
	URL               string    `json:"url,omitempty"`
	SnapshotCreatedAt time.Time `json:"snapshotCreatedAt,omitzero"`
	CreatedAt         time.Time `json:"createdAt,omitzero"`
	// Size is the volume size the backup holds.
	Size int64 `json:"size,omitempty"`
	// Replica and Node name who took it.
	Replica string `json:"replica,omitempty"`
	Node    string `json:"node,omitempty"`
	// BytesUploaded counts what this backup stored (blocks that were new
	// on the target); an incremental backup of a little change stores little.
	BytesUploaded int64 `json:"bytesUploaded,omitempty"`
	BytesRead     int64 `json:"bytesRead,omitempty"`
}

// BackupCreateRequest is the body of POST /v1/backups. Without a
// SnapshotName the manager takes a snapshot first, named bk-<8 hex of the backup name>.
type BackupCreateRequest struct {
	Name         string            `json:"name,omitempty" strict:"nonzero"`
	Volume       string            `json:"volume"`
	SnapshotName string            `json:"snapshotName,omitempty" strict:"nonzero"`
	Labels       map[string]string `json:"labels,omitempty"`
	Compression  string            `json:"compression,omitempty" strict:"nonzero"`
}

// BackupVolume is a volume as a backup target holds it: one per
// (target, volume). Its name differs from the volume's (BackupVolumeName),
// as in Longhorn.
type BackupVolume struct {
	Name   string             `json:"name"`
	Spec   BackupVolumeSpec   `json:"spec"`
	Status BackupVolumeStatus `json:"status"`
}

// BackupVolumeSpec names the volume and its target. SyncRequestedAt asks
// the backup-volume controller to read the target again.
type BackupVolumeSpec struct {
	VolumeName       string    `json:"volumeName"`
	BackupTargetName string    `json:"backupTargetName"`
	SyncRequestedAt  time.Time `json:"syncRequestedAt,omitzero"`
}

// BackupVolumeStatus is what the last sync read from the target.
type BackupVolumeStatus struct {
	LastBackupName string    `json:"lastBackupName,omitempty"`
	LastBackupAt   time.Time `json:"lastBackupAt,omitzero"`
	Size           int64     `json:"size,omitempty"`
	BackupCount    int       `json:"backupCount"`
	// LastSyncedAt is when the last successful sync started.
	LastSyncedAt time.Time `json:"lastSyncedAt,omitzero"`
	Message      string    `json:"message,omitempty"`
}

// BackupVolumeName is the BackupVolume of volume on target:
// "<volume>-<8 hex>", where the hex is a hash of both names, so it is
// stable, differs per target and never equals the volume's name.
func BackupVolumeName(target, volume string) string {
	sum := sha256.Sum256([]byte(target + "\x00" + volume))
	return volume + "-" + hex.EncodeToString(sum[:4])
}

// BackupURL locates one backup: the target's URL with the backup and
// volume as query parameters, e.g.
// s3://bucket@us-east-1/prefix?backup=backup-1a2b&volume=vol1, as
// Longhorn's backup URLs do.
func BackupURL(targetURL, volume, backup string) string {
	q := url.Values{"backup": {backup}, "volume": {volume}}
	return strings.TrimSuffix(targetURL, "?") + "?" + q.Encode()
}

// ParseBackupURL splits a BackupURL into the target's URL, the volume and
// the backup.
func ParseBackupURL(raw string) (targetURL, volume, backup string, err error) {
	i := strings.IndexByte(raw, '?')
	if i < 0 {
		return "", "", "", fmt.Errorf("backup URL %q: want <target url>?backup=NAME&volume=NAME", raw)
	}
	q, err := url.ParseQuery(raw[i+1:])
	if err != nil {
		return "", "", "", fmt.Errorf("backup URL %q: %w", raw, err)
	}
	targetURL, volume, backup = raw[:i], q.Get("volume"), q.Get("backup")
	if targetURL == "" || volume == "" || backup == "" {
		return "", "", "", fmt.Errorf("backup URL %q: want <target url>?backup=NAME&volume=NAME", raw)
	}
	return targetURL, volume, backup, nil
}

// Restore condition (type ConditionRestore) reasons, as Longhorn's.
const (
	ConditionRestore       = "Restore"
	RestoreReasonProgress  = "RestoreInProgress"
	RestoreReasonFailure   = "RestoreFailure"
	RestoreReasonCompleted = "RestoreCompleted"
)

// Per-replica restore states.
const (
	RestoreInProgress = "in_progress"
	RestoreComplete   = "complete"
	RestoreError      = "error"
)

// RestoreStatus is one replica's restore, as its node reports it.
type RestoreStatus struct {
	IsRestoring bool `json:"isRestoring"`
	// LastRestored is the backup the replica holds in full (committed and
	// flushed); "" for none.
	LastRestored string `json:"lastRestored,omitempty"`
	// Backup is the backup being (or last) restored.
	Backup   string `json:"backup,omitempty"`
	Progress int    `json:"progress"`
	State    string `json:"state,omitempty"`
	Error    string `json:"error,omitempty"`
	// BytesPulled counts what the running or last restore fetched.
	BytesPulled int64 `json:"bytesPulled,omitempty"`
}

// ActivateRequest is the body of POST /v1/volumes/{name}/activate.
type ActivateRequest struct {
	Frontend string `json:"frontend"`
}

// BackupTargetStandbyError is the message refused changes carry while
// standby volumes use a target.
const BackupTargetStandbyError = "cannot modify BackupTarget since there are existing standby volumes"

// ActivateNotReadyError starts the message of an activation refused
// because the DR volume is behind its source.
const ActivateNotReadyError = "hasn't finished incremental restored"
