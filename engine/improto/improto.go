// Package improto is the wire contract between the refengine manager and a
// node's instance manager: JSON-RPC method names and their request and
// response bodies. The manager calls these methods over the node's JSON-RPC
// socket (the same server that serves the SPDK-compatible target), and the
// node implements exactly these. Names follow SPDK's snake_case style with an
// "im_" prefix so they cannot clash with SPDK's own methods.
package improto

// JSON-RPC method names served by a node's instance manager.
const (
	MethodReplicaCreate = "im_replica_create"
	MethodReplicaDelete = "im_replica_delete"
	MethodReplicaGet    = "im_replica_get"
	MethodReplicaList   = "im_replica_list"

	MethodEngineCreate        = "im_engine_create"
	MethodEngineDelete        = "im_engine_delete"
	MethodEngineGet           = "im_engine_get"
	MethodEngineList          = "im_engine_list"
	MethodEngineSnapshot      = "im_engine_snapshot"
	MethodEngineReplicaAdd    = "im_engine_replica_add"
	MethodEngineReplicaRemove = "im_engine_replica_remove"
	MethodEngineUpgrade       = "im_engine_upgrade"

	MethodBackingImageList   = "im_backing_image_list"
	MethodBackingImageDelete = "im_backing_image_delete"
)

// BackingImageCopy is a node's copy of a backing image on one disk: the
// snapshot lvol bi-<image>-disk-<lvstore uuid>, and how many lvols are
// cloned from it (replica heads, or snapshots of theirs).
type BackingImageCopy struct {
	Image       string `json:"image"`
	Lvol        string `json:"lvol"`
	LvstoreName string `json:"lvs_name"`
	LvstoreUUID string `json:"lvs_uuid"`
	Clones      int    `json:"clones"`
}

// BackingImageList is the result of im_backing_image_list.
type BackingImageList struct {
	Copies []BackingImageCopy `json:"copies"`
}

// Instance states reported by the node.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateStopped = "stopped"
	StateError   = "error"
)

// Replica modes inside an engine.
const (
	ModeRW  = "RW"
	ModeWO  = "WO"
	ModeERR = "ERR"
)

// ReplicaCreateRequest asks a node to make a replica available: find its head
// lvol on disk (reuse it when it exists; never create it twice), else create
// it (cloned from the backing image when one is named), and export it over NBD.
type ReplicaCreateRequest struct {
	Name        string `json:"name"`
	Volume      string `json:"volume"`
	LvstoreName string `json:"lvs_name"`
	LvstoreUUID string `json:"lvs_uuid,omitempty"`
	Size        int64  `json:"size"`
	// BackingImage is the image name; the node resolves it to its own
	// per-disk lvol bi-<name>-disk-<lvstore uuid>.
	BackingImage string `json:"backing_image,omitempty"`
	// BackingImageURL is where to fetch the image from when the disk does
	// not hold it yet (the manager's download endpoint).
	BackingImageURL    string `json:"backing_image_url,omitempty"`
	BackingImageSHA512 string `json:"backing_image_sha512,omitempty"`
}

// ReplicaDeleteRequest stops a replica; with CleanupDisk its lvols are
// removed from disk too, otherwise they stay for a later ReplicaCreate.
type ReplicaDeleteRequest struct {
	Name        string `json:"name"`
	CleanupDisk bool   `json:"cleanup_disk"`
}

// NameRequest names one instance (get, delete of engines).
type NameRequest struct {
	Name string `json:"name"`
}

// ReplicaInfo describes a replica on a node.
type ReplicaInfo struct {
	Name        string `json:"name"`
	Volume      string `json:"volume"`
	LvstoreName string `json:"lvs_name"`
	LvstoreUUID string `json:"lvs_uuid"`
	Size        int64  `json:"size"`
	State       string `json:"state"`
	// Address is host:port of the NBD server, Export the export name of the head.
	Address string `json:"address"`
	Export  string `json:"export"`
	// Chain lists the lvol names from the base (backing image or oldest
	// snapshot) to the head.
	Chain        []string `json:"chain"`
	BackingImage string   `json:"backing_image,omitempty"`
	// Revision is the data generation the engine advanced on this replica.
	Revision uint64 `json:"revision"`
	// IntentEvents is the event count of the replica's write-intent
	// bitmap (0 without a valid one): raised on the other replicas,
	// durably, before any write a failed replica lacks is acknowledged, so
	// a replica that missed writes has a lower count.
	IntentEvents uint64 `json:"intent_events"`
	// LastRestored is the backup the replica holds in full, from its head.
	LastRestored string `json:"last_restored,omitempty"`
	// HeadAllocatedClusters counts the clusters the head owns: 0 when
	// nothing was written since the newest snapshot (a system backup's
	// if-not-present policy asks this).
	HeadAllocatedClusters uint64 `json:"head_allocated_clusters"`
	Error                 string `json:"error,omitempty"`
}

// ReplicaList is the result of im_replica_list.
type ReplicaList struct {
	Replicas []ReplicaInfo `json:"replicas"`
}

// EngineReplica is one member the engine should assemble.
type EngineReplica struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Export  string `json:"export"`
	// Bitmap is the export of the replica's write-intent bitmap; empty
	// means "<export>-bitmap", where every node serves it.
	Bitmap string `json:"bitmap,omitempty"`
}

// EngineCreateRequest starts an engine: raid1 over Replicas (attached over
// NBD, or locally when the replica lives on the same node) and an NBD
// frontend export named FrontendExport.
type EngineCreateRequest struct {
	Name           string          `json:"name"`
	Volume         string          `json:"volume"`
	Size           int64           `json:"size"`
	Replicas       []EngineReplica `json:"replicas"`
	FrontendExport string          `json:"frontend_export"`
	// ImagePath is the engine image binary to run the engine from; empty
	// means the node's own binary.
	ImagePath string `json:"image_path,omitempty"`
	// Salvage asks the engine to accept replicas that were ERR.
	Salvage bool `json:"salvage,omitempty"`
}

// EngineInfo describes an engine on a node.
type EngineInfo struct {
	Name     string `json:"name"`
	Volume   string `json:"volume"`
	Size     int64  `json:"size"`
	State    string `json:"state"`
	Endpoint string `json:"endpoint"`
	// ReplicaModes maps replica name to RW, WO or ERR.
	ReplicaModes map[string]string `json:"replica_modes"`
	ImagePath    string            `json:"image_path,omitempty"`
	Error        string            `json:"error,omitempty"`
	// NoSpaceWrites counts the writes the engine failed with ENOSPC
	// because no replica had room (the replicas stay RW: nothing landed).
	NoSpaceWrites uint64 `json:"no_space_writes,omitempty"`
	// ReplicaRevisions maps replica name to the revision (the head's
	// "revision" xattr) this node last read or set on it: when the engine
	// started, when a replica failed, when a rebuild finished. The control
	// plane reports it as the replica's revision.
	ReplicaRevisions map[string]uint64 `json:"replica_revisions,omitempty"`
}

// EngineList is the result of im_engine_list.
type EngineList struct {
	Engines []EngineInfo `json:"engines"`
}

// EngineSnapshotRequest takes a snapshot on every replica of the engine at
// one consistent point (frontend I/O quiesced around it).
type EngineSnapshotRequest struct {
	Name     string `json:"name"`
	Snapshot string `json:"snapshot"`
}

// EngineReplicaAddRequest adds a replica to a running engine and rebuilds it
// (write-only join, rebuild snapshot, shallow copies, re-parent, then RW).
// The call returns once the rebuild started; progress shows in EngineInfo.
type EngineReplicaAddRequest struct {
	Name    string        `json:"name"`
	Replica EngineReplica `json:"replica"`
}

// EngineReplicaRemoveRequest takes a replica out of a running engine.
type EngineReplicaRemoveRequest struct {
	Name    string `json:"name"`
	Replica string `json:"replica"`
}

// EngineUpgradeRequest switches a running engine to another engine image
// binary without taking the frontend down.
type EngineUpgradeRequest struct {
	Name      string `json:"name"`
	ImagePath string `json:"image_path"`
}

// Backup and restore methods. A backup reads a replica's snapshot lvol and
// stores it on a backup target; a restore pulls a backup into a replica.
// Both run in the background on the node; the manager starts them and polls
// their status.
const (
	MethodReplicaBackupStart   = "im_replica_backup_start"
	MethodReplicaBackupStatus  = "im_replica_backup_status"
	MethodReplicaRestoreStart  = "im_replica_restore_start"
	MethodReplicaRestoreStatus = "im_replica_restore_status"
)

// BackupTarget tells a node how to reach a backup target: the URL and, for
// S3, the credential (the node opens the target itself).
type BackupTarget struct {
	URL       string `json:"url"`
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
}

// Job states of backups and restores on a node.
const (
	JobInProgress = "in_progress"
	JobComplete   = "complete"
	JobError      = "error"
)

// ReplicaBackupRequest starts backing up the replica's snapshot
// <replica>-snap-<snapshot> as backup Backup of volume Volume on Target.
// Starting a backup that is already known answers its status.
type ReplicaBackupRequest struct {
	Replica     string            `json:"replica"`
	Snapshot    string            `json:"snapshot"`
	Target      BackupTarget      `json:"target"`
	Volume      string            `json:"volume"`
	Backup      string            `json:"backup"`
	Compression string            `json:"compression,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// Previous is the volume's last completed backup on the target: the new
	// backup records explicitly as zero every block Previous held data in
	// and that is zero now ("" = none).
	Previous string `json:"previous,omitempty"`
	// PreviousSnapshot is the snapshot Previous was taken from: when it is
	// still in the snapshot's chain, only blocks whose clusters the lvols
	// after it own are read (the allocation diff); else every block is.
	PreviousSnapshot string `json:"previous_snapshot,omitempty"`
}

// BackupNameRequest names a backup job.
type BackupNameRequest struct {
	Backup string `json:"backup"`
}

// BackupJobStatus is a backup job on a node.
type BackupJobStatus struct {
	Backup        string `json:"backup"`
	Replica       string `json:"replica"`
	State         string `json:"state"`
	Progress      int    `json:"progress"`
	Error         string `json:"error,omitempty"`
	Size          int64  `json:"size"`
	BytesRead     int64  `json:"bytes_read"`
	BytesUploaded int64  `json:"bytes_uploaded"`
	// CreatedAt is the manifest's creation time (RFC 3339), once complete.
	CreatedAt string `json:"created_at,omitempty"`
}

// ReplicaRestoreRequest starts restoring backup Backup of volume Volume
// into the replica, incrementally from the backup the replica last
// restored in full (its lastRestored), which the node reads from disk.
// RateLimit, when positive, caps the bytes written per second.
type ReplicaRestoreRequest struct {
	Replica   string       `json:"replica"`
	Target    BackupTarget `json:"target"`
	Volume    string       `json:"volume"`
	Backup    string       `json:"backup"`
	RateLimit int64        `json:"rate_limit,omitempty"`
}

// ReplicaNameRequest names a replica.
type ReplicaNameRequest struct {
	Replica string `json:"replica"`
}

// RestoreStatus is a replica's restore: the running or last job, and
// LastRestored, the backup the replica holds in full (committed, flushed
// and recorded on its head), which survives restarts.
type RestoreStatus struct {
	Replica      string `json:"replica"`
	IsRestoring  bool   `json:"is_restoring"`
	LastRestored string `json:"last_restored,omitempty"`
	Backup       string `json:"backup,omitempty"`
	Progress     int    `json:"progress"`
	State        string `json:"state,omitempty"`
	Error        string `json:"error,omitempty"`
	BytesPulled  int64  `json:"bytes_pulled"`
}
