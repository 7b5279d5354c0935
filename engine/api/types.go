package api

import "time"

// Kinds of resources, as they appear in events and in the store.
const (
	KindNode         = "node"
	KindVolume       = "volume"
	KindReplica      = "replica"
	KindEngine       = "engine"
	KindSnapshot     = "snapshot"
	KindBackingImage = "backingImage"
	KindEngineImage  = "engineImage"
	KindBackupTarget = "backupTarget"
)

// Kinds lists every resource kind in a stable order.
var Kinds = []string{KindNode, KindVolume, KindReplica, KindEngine, KindSnapshot, KindBackingImage, KindEngineImage, KindBackupTarget, KindBackupVolume, KindBackup, KindSystemBackup, KindSystemRestore, KindConsumer}

// Node states.
const (
	NodeUp   = "up"
	NodeDown = "down"
)

// Node is one refengine node process (the instance manager) as the manager
// knows it from its heartbeats.
type Node struct {
	Name   string     `json:"name"`
	Spec   NodeSpec   `json:"spec"`
	Status NodeStatus `json:"status"`
}

// NodeSpec holds the addresses a node announced in its last heartbeat.
type NodeSpec struct {
	// Address is the host the node serves on (for endpoints), e.g. 127.0.0.2.
	Address string `json:"address"`
	// RPCAddress is the node's JSON-RPC address, "unix:/path" or "tcp:host:port".
	RPCAddress string `json:"rpcAddress"`
	// NBDAddress is host:port of the node's NBD server.
	NBDAddress string `json:"nbdAddress"`
}

// NodeStatus is what the manager observed about a node.
type NodeStatus struct {
	State         string    `json:"state"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	Disks         []Disk    `json:"disks"`
}

// Disk is one of a node's disks: a base bdev carrying an lvstore.
type Disk struct {
	Name        string `json:"name"`
	LvstoreUUID string `json:"lvstoreUUID"`
	LvstoreName string `json:"lvstoreName"`
	TotalBytes  int64  `json:"totalBytes"`
	FreeBytes   int64  `json:"freeBytes"`
}

// NodeHeader names the node whose API token (NodeAPIToken) a request
// carries. It is no secret: the manager derives that node's token from it
// and compares.
const NodeHeader = "X-Refengine-Node"

// HeartbeatRequest is the body of PUT /v1/nodes/{name}/heartbeat: the node
// registers on its first heartbeat and refreshes its addresses and disks on
// every later one.
type HeartbeatRequest struct {
	Address    string `json:"address"`
	RPCAddress string `json:"rpcAddress"`
	NBDAddress string `json:"nbdAddress"`
	Disks      []Disk `json:"disks"`
}

// Volume states (status.state).
const (
	VolumeCreating  = "creating"
	VolumeDetached  = "detached"
	VolumeAttaching = "attaching"
	VolumeAttached  = "attached"
	VolumeDetaching = "detaching"
	VolumeDeleting  = "deleting"
)

// Volume robustness values (status.robustness).
const (
	RobustnessHealthy  = "healthy"
	RobustnessDegraded = "degraded"
	RobustnessFaulted  = "faulted"
	RobustnessUnknown  = "unknown"
)

// FrontendNBD is the only frontend: the engine exports the volume over NBD.
const FrontendNBD = "nbd"

// Volume is a replicated block device.
type Volume struct {
	Name   string       `json:"name"`
	Spec   VolumeSpec   `json:"spec"`
	Status VolumeStatus `json:"status"`
}

// VolumeSpec is what the user asked for.
type VolumeSpec struct {
	Size             int64  `json:"size"`
	NumberOfReplicas int    `json:"numberOfReplicas"`
	BackingImage     string `json:"backingImage,omitempty"`
	EngineImage      string `json:"engineImage,omitempty"`
	Frontend         string `json:"frontend"`
	// NodeID is the node the volume should be attached to; empty means detached.
	NodeID string `json:"nodeID,omitempty"`
	// BackupTargetName is the backup target the volume's backups go to;
	// "" (volumes created before targets existed) means DefaultBackupTarget.
	BackupTargetName string `json:"backupTargetName,omitempty"`
	// FromBackup is the BackupURL the volume was created from: the manager
	// attaches it without a frontend, restores that backup into every
	// replica and detaches it (a restore volume), or with Standby keeps
	// restoring each newer backup of the source volume (a DR volume).
	FromBackup string `json:"fromBackup,omitempty"`
	Standby    bool   `json:"standby,omitempty"`
	// DisableFrontend attaches the volume without an endpoint: set by a
	// system backup that attaches a detached volume for its backup
	// (maintenance), cleared when it detaches it again.
	DisableFrontend bool `json:"disableFrontend,omitempty"`
	// AttachmentTickets are the reasons the volume is attached, by ID: the
	// attach API's ticket and one per consumer. Removing the last ticket
	// on the node the volume is attached to detaches it.
	AttachmentTickets map[string]AttachmentTicket `json:"attachmentTickets,omitempty"`
}

// VolumeStatus is what the controllers observed and decided.
type VolumeStatus struct {
	State          string      `json:"state"`
	Robustness     string      `json:"robustness"`
	Node           string      `json:"node,omitempty"`
	Endpoint       string      `json:"endpoint,omitempty"`
	CurrentImage   string      `json:"currentImage,omitempty"`
	LastDegradedAt time.Time   `json:"lastDegradedAt,omitzero"`
	LastSalvagedAt time.Time   `json:"lastSalvagedAt,omitzero"`
	Conditions     []Condition `json:"conditions,omitempty"`
	// IsStandby mirrors spec.standby until activation.
	IsStandby bool `json:"isStandby,omitempty"`
	// RestoreRequired holds from creation from a backup until the restore
	// completed (restore volume) or the volume was activated (DR volume).
	RestoreRequired bool `json:"restoreRequired,omitempty"`
	// RestoreInitiated is set once the first restore was started.
	RestoreInitiated bool `json:"restoreInitiated,omitempty"`
	// LastBackup and LastBackupAt are the newest backup of the volume's
	// BackupVolume (of its source volume for restore and DR volumes), as
	// the volume reconcile last read it: derived, never written by the
	// backup itself.
	LastBackup   string    `json:"lastBackup,omitempty"`
	LastBackupAt time.Time `json:"lastBackupAt,omitzero"`
	// RemountRequestedAt is set when the volume's engine died under its
	// consumers: the consumers created before it are replaced.
	RemountRequestedAt time.Time `json:"remountRequestedAt,omitzero"`
}

// Condition is a named boolean fact about a resource with the reason it
// holds (or not), e.g. Scheduled=false "only 2 of 3 replicas placed".
type Condition struct {
	Type               string    `json:"type"`
	Status             bool      `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Condition types used on volumes.
const (
	ConditionScheduled = "Scheduled"
	ConditionReady     = "Ready"
	// ConditionWritable is false while writes fail because the volume's
	// replicas have no room (reason OutOfSpace); a volume that cannot
	// write is never healthy.
	ConditionWritable = "Writable"
)

// VolumeCreateRequest is the body of POST /v1/volumes.
type VolumeCreateRequest struct {
	Name string `json:"name"`
	// Fields tagged strict:"nonzero" get a default when omitted, so the
	// manager refuses an explicit zero rather than silently replacing it.
	// Size may be omitted only for a volume from a backup (it takes the
	// backup's); NumberOfReplicas defaults to DefaultReplicas.
	Size             int64  `json:"size,omitempty" strict:"nonzero"`
	NumberOfReplicas int    `json:"numberOfReplicas,omitempty" strict:"nonzero"`
	BackingImage     string `json:"backingImage,omitempty"`
	EngineImage      string `json:"engineImage,omitempty"`
	Frontend         string `json:"frontend,omitempty" strict:"nonzero"`
	// BackupTargetName defaults to DefaultBackupTarget, or to the target
	// whose URL FromBackup names.
	BackupTargetName string `json:"backupTargetName,omitempty" strict:"nonzero"`
	// FromBackup creates the volume from a backup (BackupURL); Standby
	// makes it a DR volume, which requires no frontend.
	FromBackup string `json:"fromBackup,omitempty"`
	Standby    bool   `json:"standby,omitempty"`
}

// AttachRequest is the body of POST /v1/volumes/{name}/attach.
type AttachRequest struct {
	Node string `json:"node"`
}

// SnapshotRequest is the body of POST /v1/volumes/{name}/snapshot.
type SnapshotRequest struct {
	Name string `json:"name"`
}

// UpgradeRequest is the body of POST /v1/volumes/{name}/upgrade.
type UpgradeRequest struct {
	EngineImage string `json:"engineImage"`
}

// Replica states.
const (
	InstancePending = "pending"
	InstanceStopped = "stopped"
	InstanceRunning = "running"
	InstanceError   = "error"
)

// Replica modes inside an engine's raid1.
const (
	ModeRW  = "RW"
	ModeWO  = "WO"
	ModeERR = "ERR"
)

// Replica is one copy of a volume: a head lvol (plus snapshots) on a disk.
type Replica struct {
	Name   string        `json:"name"`
	Spec   ReplicaSpec   `json:"spec"`
	Status ReplicaStatus `json:"status"`
}

// ReplicaSpec places a replica.
type ReplicaSpec struct {
	Volume string `json:"volume"`
	Node   string `json:"node"`
	Disk   string `json:"disk"`
	// DiskUUID is the lvstore UUID of Disk when the replica was scheduled.
	DiskUUID     string `json:"diskUUID,omitempty"`
	Size         int64  `json:"size"`
	BackingImage string `json:"backingImage,omitempty"`
	// Deleting is set by DELETE /v1/replicas/{name}; the controller removes
	// the replica from its engine and node, then the record.
	Deleting bool `json:"deleting,omitempty"`
}

// ReplicaStatus is the replica's observed state.
type ReplicaStatus struct {
	State string `json:"state"`
	Mode  string `json:"mode,omitempty"`
	// Address is host:port of the NBD server exporting the head, Export its name.
	Address   string    `json:"address,omitempty"`
	Export    string    `json:"export,omitempty"`
	FailedAt  time.Time `json:"failedAt,omitzero"`
	HealthyAt time.Time `json:"healthyAt,omitzero"`
	// RestartedAt is when the manager last restarted this replica in place
	// after a failure (Longhorn's reuse of a failed replica); it is cleared
	// when the replica turns RW. A replica that fails again before that is
	// replaced instead of restarted again.
	RestartedAt time.Time `json:"restartedAt,omitzero"`
	// Revision is the data generation the engine advanced on this replica;
	// salvage prefers the highest after IntentEvents.
	Revision uint64 `json:"revision"`
	// IntentEvents is the event count of the replica's write-intent
	// bitmap, as its node last reported it: a replica that missed writes
	// has a lower count than the others. Salvage prefers the highest.
	IntentEvents uint64 `json:"intentEvents,omitempty"`
	// Restore is the replica's restore, for restore and DR volumes.
	Restore *RestoreStatus `json:"restore,omitempty"`
}

// Engine is the instance that serves an attached volume: raid1 over its
// replicas plus the NBD frontend.
type Engine struct {
	Name   string       `json:"name"`
	Spec   EngineSpec   `json:"spec"`
	Status EngineStatus `json:"status"`
}

// EngineSpec places an engine.
type EngineSpec struct {
	Volume string `json:"volume"`
	Node   string `json:"node"`
	Image  string `json:"image,omitempty"`
	Size   int64  `json:"size"`
	// BackupVolume and RequestedBackupRestore drive restore volumes: the
	// engine's replicas are brought to hold RequestedBackupRestore.
	BackupVolume           string `json:"backupVolume,omitempty"`
	RequestedBackupRestore string `json:"requestedBackupRestore,omitempty"`
}

// EngineStatus is the engine's observed state.
type EngineStatus struct {
	State        string            `json:"state"`
	Endpoint     string            `json:"endpoint,omitempty"`
	CurrentImage string            `json:"currentImage,omitempty"`
	ReplicaModes map[string]string `json:"replicaModes,omitempty"`
	// NoSpaceWrites counts the writes this engine failed with ENOSPC
	// because no replica had room.
	NoSpaceWrites uint64 `json:"noSpaceWrites,omitempty"`
	// LastRestoredBackup is the backup every replica holds, "" when they
	// differ or hold none.
	LastRestoredBackup string `json:"lastRestoredBackup,omitempty"`
}

// Snapshot states.
const (
	SnapshotCreating = "creating"
	SnapshotReady    = "ready"
	SnapshotError    = "error"
)

// Snapshot is a point-in-time copy of a volume, taken on every replica at
// one consistent point by the engine.
type Snapshot struct {
	Name   string         `json:"name"`
	Spec   SnapshotSpec   `json:"spec"`
	Status SnapshotStatus `json:"status"`
}

// SnapshotSpec names the snapshot's volume and its per-volume name.
type SnapshotSpec struct {
	Volume string `json:"volume"`
	// SnapshotName is the name given by the user; the resource Name is
	// "<volume>-s-<SnapshotName>" so snapshots of different volumes never clash.
	SnapshotName string `json:"snapshotName"`
}

// SnapshotStatus says whether the snapshot was taken.
type SnapshotStatus struct {
	State     string    `json:"state"`
	Message   string    `json:"message,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// Backing image states.
const (
	BackingImageReady = "ready"
)

// BackingImage is a read-only base image volumes can be cloned from. The
// manager keeps one verified copy; nodes prepare it per disk on first use.
type BackingImage struct {
	Name   string             `json:"name"`
	Spec   BackingImageSpec   `json:"spec"`
	Status BackingImageStatus `json:"status"`
}

// BackingImageSpec says where the image came from.
type BackingImageSpec struct {
	// Source is "file:<path>" or "upload".
	Source string `json:"source"`
}

// BackingImageStatus holds the verified image identity and the per-disk
// preparation state (disk lvstore UUID → state).
type BackingImageStatus struct {
	State     string            `json:"state"`
	Size      int64             `json:"size"`
	SHA512    string            `json:"sha512"`
	DiskState map[string]string `json:"diskState,omitempty"`
}

// BackingImageCreateRequest is the body of POST /v1/backingimages: create
// from a file on the manager's host. SHA512, when set, must match.
type BackingImageCreateRequest struct {
	Name       string `json:"name"`
	SourcePath string `json:"sourcePath"`
	SHA512     string `json:"sha512,omitempty"`
}

// Engine image states.
const (
	EngineImageReady = "ready"
)

// EngineImage is a refengine binary engines can run from.
type EngineImage struct {
	Name   string            `json:"name"`
	Spec   EngineImageSpec   `json:"spec"`
	Status EngineImageStatus `json:"status"`
}

// EngineImageSpec names the binary and its version.
type EngineImageSpec struct {
	Version    string `json:"version"`
	BinaryPath string `json:"binaryPath"`
}

// EngineImageStatus says whether the binary was found.
type EngineImageStatus struct {
	State string `json:"state"`
	// RefCount is the number of volumes whose spec names this image.
	RefCount int `json:"refCount"`
}

// EngineImageCreateRequest is the body of POST /v1/engineimages.
type EngineImageCreateRequest struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	BinaryPath string `json:"binaryPath"`
}

// Version is the body of GET /v1/version.
type Version struct {
	Version    string `json:"version"`
	APIVersion string `json:"apiVersion"`
}

// APIVersion is the REST API's version prefix.
const APIVersion = "v1"
