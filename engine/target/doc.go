// Package target is refengine's SPDK-compatible storage target: a registry
// of block devices (aio and malloc disks, lvols, raid1 volumes and remote
// NBD-attached devices), the lvstores found on them, NBD exports, and the
// JSON-RPC methods that drive them with SPDK's names, parameters, results
// and error codes (reference/spdk-jsonrpc.md §4 and §6), plus a few
// extensions named in SPDK's style (docs/jsonrpc.md).
//
// One mutex serialises the control plane: every method runs with the
// registry locked, so the registry, lvstore metadata and claims change
// atomically from a client's point of view. The data path (NBD, raid1, lvol
// I/O) never takes it.
package target
