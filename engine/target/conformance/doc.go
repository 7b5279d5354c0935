// Package conformance is an SPDK JSON-RPC conformance suite: table-driven
// cases, each a short sequence of calls with the replies SPDK v24.09
// (Longhorn's fork, branch longhorn-v24.09) sends, written down from SPDK's
// source (every case cites the file and function its expectations come
// from).
//
// The package has no code outside its tests. `go test` (and `make test`)
// runs every case over a real Unix socket against an in-process refengine
// target (engine/target). With SPDK_RPC_SOCKET set, the same cases run
// against that socket instead, so anyone with SPDK can check a running
// spdk_tgt:
//
//	SPDK_RPC_SOCKET=/var/tmp/spdk.sock go test ./engine/target/conformance/ -count=1 -v
//
// The target must be able to open files in the test's temporary directory
// (aio backing files are created there; spdk_tgt usually runs as root),
// and needs memory for a few malloc bdevs of up to 64 MiB at a time (an
// spdk_tgt started with -s 1024 ran out; -s 2048 is enough).
// Every case names what it creates with its own prefix (cf<N>_) and runs
// cleanup calls that always run, so a long-lived target is left as found.
//
// A case whose expectation refengine does not meet on purpose carries a
// knownDifference naming the entry in docs/jsonrpc.md "Deliberate
// differences from SPDK"; the refengine run skips it with that reason (the
// SPDK run does not). "BUG: ..." marks a refengine bug not yet fixed.
// CONFORMANCE_RUN_KNOWN=1 runs those cases against refengine too.
package conformance
