// Package integrity holds the checkers that decide whether replicated
// storage kept its integrity through faults: replicas equal, reads
// deterministic, no orphaned lvols, space bounded. Each returns a
// checkers.Verdict (Pass, Fail or Unknown, a summary and the evidence) and,
// when the Checker has a Recorder, adds it to the timeline.
//
// They exist because a volume can say attached/healthy, lose no
// acknowledged write, and still be broken: replicas that diverged after an
// engine crash, rebuild snapshots that are never reclaimed until the disk
// fills, lvols leaked by interrupted rebuilds (issue 8). The history and
// checksum checkers look at the volume as a client sees it and cannot see
// any of that; these look under it.
//
// # replicas-equal (Checker.ReplicasEqual, Checker.CompareReplicas)
//
// Digests every RW replica through its own NBD export on its node, not
// through the engine, and fails when they differ, naming the first
// differing byte of each replica against the first by name.
//
// It sees any byte that differs between RW replicas, including regions the
// workload never wrote and blocks the raid happens never to read from the
// divergent member. It cannot see a replica that is not RW (WO while
// rebuilding, ERR): those are skipped and listed, because the engine does
// not read them either. It digests the replicas one after another, so
// writes in flight make it fail for no reason: run it at a quiescent point.
// It also cannot tell which replica is right; the history checker does.
//
// # reads-deterministic (Checker.ReadsDeterministic)
//
// Reads a device (a volume's frontend) in 1 MiB chunks, each K times in a
// row, and fails when the reads of a chunk differ, with the first differing
// 4 KiB block and which reads returned which content.
//
// It sees divergence the way a client suffers it: raid1 rotates reads over
// its RW members, so divergent replicas read back alternating contents. It
// needs no access to the nodes. It cannot see divergence the engine never
// reads: a replica the raid does not read from (not RW), or one missed
// because K was below the number of replicas; use K of at least twice the
// replica count. Like replicas-equal, it assumes no writes are in flight.
//
// # no-orphans (NoOrphans, Checker.CheckNoOrphans, Checker.ReadInventory)
//
// Reads every lvol of every node over its JSON-RPC, then the manager's
// volumes, replicas, snapshots and backing images, and fails for every lvol
// that belongs to nothing the manager knows; NoOrphans spells out the
// ownership rules. Orphans are named with node, lvstore, space and reason.
//
// It sees leaked heads, -rebuilding lvols, copied snapshots, rebuild
// snapshots left after a rebuild (even inside a live chain), stray backing
// image copies and anything created on a node behind the manager's back. It
// cannot see a leak that still looks owned: a rebuild snapshot while a
// rebuild of the same volume runs, an lvol of a replica being deleted, or a
// snapshot in a live head's chain under a name no rule explains (those two
// are mentioned in the evidence). A node that cannot be read makes it
// Unknown. An operation that ends between the node reads and the manager
// read can make an lvol look orphaned for an instant; use Eventually.
//
// # space-bounded (SpaceBounded, Checker.CheckSpaceBounded)
//
// Sums the clusters allocated by each replica's lvols and fails when that
// exceeds ceil(size/cluster) × (1 + ready user snapshots) + Slack. It also
// holds every lvstore's allocator to account: used clusters (total - free)
// must equal the clusters its lvols own.
//
// It sees space that grows with rebuilds rather than with user snapshots,
// and clusters the allocator lost. It cannot see a leak smaller than Slack
// (so volumes under test should be at least 16 clusters), space held by
// lvols no replica name claims (no-orphans reports those), nor a rebuild in
// progress, which legitimately holds more; run it after recovery. The
// allocator part is Unknown for an lvstore whose counts moved while it was
// read.
//
// # Eventually
//
// Re-runs any of them until it passes or a deadline ends, for checks right
// after a recovery, when a purge or cleanup may still be finishing.
package integrity
