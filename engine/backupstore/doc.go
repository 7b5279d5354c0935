// Package backupstore stores incremental, deduplicated backups of refengine
// volumes on a backup target (a directory or an S3 bucket), restores them
// fully or incrementally, lists them and deletes them with garbage
// collection of the blocks no backup references any more.
//
// The layout follows Longhorn's backupstore (docs/backupstore.md has the
// details): a volume is cut into 2 MiB blocks, each block is stored once
// under the SHA-256 of its uncompressed bytes, and each backup is a JSON
// manifest that maps every non-empty block of the volume to its hash, so a
// backup restores on its own and two backups of the same volume share every
// block they have in common. A backup exists once its manifest does: the
// manifest is written last, and a backup interrupted before that leaves only
// blocks, which the next backup reuses or the next deletion collects.
//
// Every error that comes from a target wraps one of ErrUnreachable,
// ErrAccessDenied or ErrNotFound; data that fails verification wraps
// ErrCorrupt. Callers tell "the target is down" from "the object is missing"
// from "the data is bad" with errors.Is.
//
// The package depends on nothing of the faultline framework; it is part of
// refengine.
package backupstore
