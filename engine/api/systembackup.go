package api

import "time"

// Kinds of the system backup resources.
const (
	KindSystemBackup  = "systemBackup"
	KindSystemRestore = "systemRestore"
)

// Volume backup policies of a system backup, as Longhorn's.
const (
	// VolumeBackupPolicyIfNotPresent backs up a volume unless its last
	// backup is up to date: the backup exists, its snapshot is still the
	// volume's newest and nothing was written since.
	VolumeBackupPolicyIfNotPresent = "if-not-present"
	// VolumeBackupPolicyAlways backs up every volume.
	VolumeBackupPolicyAlways = "always"
	// VolumeBackupPolicyDisabled backs up none: the bundle records each
	// volume's lastBackup as it stands.
	VolumeBackupPolicyDisabled = "disabled"
)

// System backup states (status.state), in the order a system backup goes
// through them.
const (
	SystemBackupStateNone               = ""
	SystemBackupStateVolumeBackup       = "VolumeBackup"
	SystemBackupStateBackingImageBackup = "BackingImageBackup"
	SystemBackupStateGenerating         = "Generating"
	SystemBackupStateUploading          = "Uploading"
	SystemBackupStateReady              = "Ready"
	SystemBackupStateError              = "Error"
)

// SystemBackupLabel is the label every backup a system backup takes
// carries, with the system backup's name as its value.
const SystemBackupLabel = "refengine.io/system-backup"

// SystemBackup is a copy of the cluster's configuration (volumes with
// their status, backing and engine images, backup targets, settings) on
// the default backup target, taken after every volume got a backup on its
// own target. A system restore re-creates what it holds.
type SystemBackup struct {
	Name   string             `json:"name"`
	Spec   SystemBackupSpec   `json:"spec"`
	Status SystemBackupStatus `json:"status"`
}

// SystemBackupSpec is what the user asked for.
type SystemBackupSpec struct {
	VolumeBackupPolicy string `json:"volumeBackupPolicy"`
	// Deleting is set by DELETE: the controller removes the bundle from
	// the default target, then the record. The volume backups stay.
	Deleting bool `json:"deleting,omitempty"`
}

// SystemBackupStatus is the system backup's progress and result.
type SystemBackupStatus struct {
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Version is the manager's version that wrote the bundle.
	Version string `json:"version,omitempty"`
	// CreatedAt is when the bundle was written (state Ready).
	CreatedAt time.Time `json:"createdAt,omitzero"`
	// StartedAt is when the system backup started its volume backups.
	StartedAt time.Time `json:"startedAt,omitzero"`
	// URL is where the bundle is: the default target's URL and the
	// bundle's key.
	URL string `json:"url,omitempty"`
	// Volumes says what the system backup did for each volume.
	Volumes []SystemBackupVolume `json:"volumes,omitempty"`
}

// SystemBackupVolume is one volume's part in a system backup.
type SystemBackupVolume struct {
	Volume           string `json:"volume"`
	BackupTargetName string `json:"backupTargetName"`
	// Backup is the backup the system backup took for the volume, or ""
	// when it took none (Skipped says why).
	Backup string `json:"backup,omitempty"`
	// Skipped says why no backup was taken: "standby", "restoring",
	// "policy disabled", "up to date".
	Skipped string `json:"skipped,omitempty"`
	// MaintenanceNode is the node the system backup attached a detached
	// volume to (without a frontend) for its backup; it detaches the
	// volume again when the backup is done.
	MaintenanceNode string `json:"maintenanceNode,omitempty"`
	// Detached is set once a maintenance attachment was undone.
	Detached bool `json:"detached,omitempty"`
}

// SystemBackupCreateRequest is the body of POST /v1/systembackups.
type SystemBackupCreateRequest struct {
	Name string `json:"name"`
	// VolumeBackupPolicy defaults to VolumeBackupPolicyIfNotPresent.
	VolumeBackupPolicy string `json:"volumeBackupPolicy,omitempty" strict:"nonzero"`
}

// SystemBackupBundle is what a system backup stores on the default target
// (GET /v1/systembackups/{name}/bundle reads it back from there).
type SystemBackupBundle struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	// Volumes hold spec and full status; status.lastBackup is the backup
	// a system restore re-creates a missing volume from.
	Volumes       []Volume       `json:"volumes"`
	BackingImages []BackingImage `json:"backingImages"`
	EngineImages  []EngineImage  `json:"engineImages"`
	// BackupTargets carry no secret keys (credential.hasSecret says one
	// is needed): a restore that must re-create such a target is given
	// the secret in its request.
	BackupTargets []BackupTarget `json:"backupTargets"`
	// Settings are the manager's settings when the bundle was written.
	Settings map[string]string `json:"settings"`
}

// System restore states (status.state).
const (
	SystemRestoreStatePending     = "Pending"
	SystemRestoreStateDownloading = "Downloading"
	SystemRestoreStateRestoring   = "Restoring"
	SystemRestoreStateCompleted   = "Completed"
	SystemRestoreStateError       = "Error"
)

// Actions a system restore records for each object of the bundle.
const (
	RestoreActionCreated   = "created"
	RestoreActionUpdated   = "updated"
	RestoreActionUnchanged = "unchanged"
	RestoreActionSkipped   = "skipped"
)

// SystemRestore re-creates what a system backup holds: backup targets
// first, then backing images, then volumes (a missing volume restored
// from its recorded lastBackup on its own target).
type SystemRestore struct {
	Name   string              `json:"name"`
	Spec   SystemRestoreSpec   `json:"spec"`
	Status SystemRestoreStatus `json:"status"`
}

// SystemRestoreSpec names the system backup to restore.
type SystemRestoreSpec struct {
	SystemBackup string `json:"systemBackup"`
}

// SystemRestoreStatus is the restore's progress and what it did.
type SystemRestoreStatus struct {
	State       string    `json:"state"`
	Error       string    `json:"error,omitempty"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	CompletedAt time.Time `json:"completedAt,omitzero"`
	// Objects lists what was done with each object of the bundle, in the
	// order it was done.
	Objects []SystemRestoreObject `json:"objects,omitempty"`
}

// SystemRestoreObject is one object of the bundle and what the restore did
// with it.
type SystemRestoreObject struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"`
	// Reason says why an object was skipped or how it was restored
	// (e.g. the backup URL a volume was created from).
	Reason string `json:"reason,omitempty"`
}

// SystemRestoreCreateRequest is the body of POST /v1/systemrestores.
type SystemRestoreCreateRequest struct {
	Name         string `json:"name"`
	SystemBackup string `json:"systemBackup"`
	// TargetSecrets gives the secret keys of the bundle's backup targets
	// the restore re-creates (target name → secret key); the bundle never
	// holds them.
	TargetSecrets map[string]string `json:"targetSecrets,omitempty"`
}
