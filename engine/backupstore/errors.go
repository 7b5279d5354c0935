package backupstore

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns about a target or about
// stored data wraps exactly one of them, so callers can choose between
// retrying later (ErrUnreachable), fixing credentials (ErrAccessDenied),
// treating the backup as gone (ErrNotFound) or failing the restore for good
// (ErrCorrupt).
var (
	// ErrUnreachable: the target cannot be reached at all (server down,
	// name that does not resolve, directory gone, bucket missing).
	ErrUnreachable = errors.New("backup target unreachable")
	// ErrAccessDenied: the target answered but refused the credentials.
	ErrAccessDenied = errors.New("backup target access denied")
	// ErrNotFound: the target is fine but the object (block, manifest,
	// backup) is not there.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt: an object is there but its contents cannot be trusted
	// (bad header, failed checksum, truncated or foreign manifest).
	ErrCorrupt = errors.New("corrupt backup data")
	// ErrInvalidURL: a target URL that Open or ParseURL cannot accept.
	ErrInvalidURL = errors.New("invalid backup target URL")
	// ErrExists: a backup with that name already exists.
	ErrExists = errors.New("already exists")
)

// TargetError is an error from one operation on one target. It names the
// target (without credentials) and the object so that a message in a
// volume's status says where to look.
type TargetError struct {
	Target string // the target's URL, as String() prints it
	Op     string // "put", "get", "stat", "list", "delete", "open"
	Key    string // the object key or list prefix, "" for the target itself
	Kind   error  // one of the sentinels above
	Err    error  // the underlying cause
}

func (e *TargetError) Error() string {
	where := e.Target
	if e.Key != "" {
		where += " " + e.Key
	}
	return fmt.Sprintf("backup target %s: %s: %v: %v", where, e.Op, e.Kind, e.Err)
}

// Unwrap exposes both the kind (for errors.Is with the sentinels) and the
// cause (for errors.Is with, say, fs.ErrNotExist or context.Canceled).
func (e *TargetError) Unwrap() []error { return []error{e.Kind, e.Err} }

// corrupt wraps ErrCorrupt with a description of what is wrong.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
