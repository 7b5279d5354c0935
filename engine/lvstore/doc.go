// Package lvstore implements an SPDK-style logical volume store inside a
// base block device: thin and thick lvols made of clusters, snapshots,
// clones, external-snapshot (esnap) clones, set_parent, shallow copy,
// decouple/inflate/detach, delete with merge and xattrs.
//
// The store keeps all metadata in memory and persists it to one of two
// alternating metadata slots (docs/ondisk-format.md). Metadata operations
// persist before they return; cluster allocations made by the data path are
// persisted by the next Flush, so a write to an allocated cluster is a single
// pwrite at a computed offset.
//
// Errors carry a syscall.Errno (EEXIST, EINVAL, EBUSY, EPERM, ENOENT, ENOSPC,
// ENODEV) wrapped with context, so callers can map them to SPDK codes with
// errors.Is.
//
// Locking: a store-wide metadata mutex serialises metadata operations and
// commits; each lvol has an RW lock that I/O takes shared (exclusive only to
// allocate a cluster) and metadata operations take exclusive, always from a
// child towards its parents, the same order reads fall through the chain.
// The allocator and the name index have their own short leaf locks.
package lvstore
