package api

import "time"

// DefaultBackupTarget is the target that always exists: the manager creates
// it at start when it is missing and refuses to delete it.
const DefaultBackupTarget = "default"

// Poll interval bounds of a backup target's availability check.
const (
	DefaultBackupTargetPollInterval = Duration(5 * time.Minute)
	MinBackupTargetPollInterval     = Duration(10 * time.Second)
)

// BackupTarget is a place backups go to: a directory or an S3 bucket
// (engine/backupstore). The manager checks every PollInterval that it
// answers; backups and restores come later.
type BackupTarget struct {
	Name   string             `json:"name"`
	Spec   BackupTargetSpec   `json:"spec"`
	Status BackupTargetStatus `json:"status"`
}

// BackupTargetSpec says where the target is and how to reach it.
type BackupTargetSpec struct {
	// URL is file:///abs/dir or s3://bucket@region/prefix.
	URL          string                  `json:"url"`
	PollInterval Duration                `json:"pollInterval"`
	Credential   *BackupTargetCredential `json:"credential,omitempty"`
	// SyncRequestedAt is set by create, update and POST .../sync; the
	// controller checks the target again whenever it is after
	// Status.LastSyncedAt, as Longhorn's spec.syncRequestedAt does.
	SyncRequestedAt time.Time `json:"syncRequestedAt,omitzero"`
}

// BackupTargetCredential is what an S3 target needs besides its URL. The
// manager never returns SecretKey: answers and change events carry "" and
// HasSecret instead, so the secret is written once and read only by the
// manager.
type BackupTargetCredential struct {
	AccessKey string `json:"accessKey,omitempty"`
	SecretKey string `json:"secretKey,omitempty"`
	// HasSecret is set in answers when a secret key is stored; it is
	// ignored in requests.
	HasSecret bool `json:"hasSecret,omitempty"`
	// Endpoint is the S3 server's base URL (http(s)://host[:port]); empty
	// means AWS.
	Endpoint string `json:"endpoint,omitempty"`
	// Region, when set, must equal the region in the URL, which is the
	// one used.
	Region string `json:"region,omitempty"`
}

// IsZero reports a credential with nothing in it.
func (c BackupTargetCredential) IsZero() bool {
	return c.AccessKey == "" && c.SecretKey == "" && c.Endpoint == "" && c.Region == ""
}

// BackupTargetStatus is the result of the last availability check.
type BackupTargetStatus struct {
	Available bool `json:"available"`
	// LastSyncedAt is when the last check started.
	LastSyncedAt time.Time `json:"lastSyncedAt,omitzero"`
	// Message says why the target is unavailable: it names the error kind
	// (unreachable, access denied, not found) and the cause.
	Message string `json:"message,omitempty"`
}

// BackupTargetCreateRequest is the body of POST /v1/backuptargets.
type BackupTargetCreateRequest struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// PollInterval defaults to DefaultBackupTargetPollInterval.
	PollInterval Duration                `json:"pollInterval,omitempty" strict:"nonzero"`
	Credential   *BackupTargetCredential `json:"credential,omitempty"`
}

// BackupTargetUpdateRequest is the body of PUT /v1/backuptargets/{name}.
// Fields left out keep their value. A credential replaces the stored one,
// except that an empty secretKey keeps the stored secret (so it need not be
// sent again); an empty credential {} removes it.
type BackupTargetUpdateRequest struct {
	URL          string                  `json:"url,omitempty"`
	PollInterval *Duration               `json:"pollInterval,omitempty"`
	Credential   *BackupTargetCredential `json:"credential,omitempty"`
}
