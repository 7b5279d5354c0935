package manager

import (
	"context"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/improto"
)

// NodeAgent is one node's instance manager as the controllers see it. The
// real implementation (agent_rpc.go) speaks JSON-RPC to the node with the
// method names and bodies of package improto; the controllers never learn
// how instances are made.
//
// Every method must be idempotent: the controllers retry after errors and
// after manager restarts, so ReplicaCreate on an existing replica reuses its
// head (never creates it again) and deleting a missing instance succeeds.
type NodeAgent interface {
	ReplicaCreate(ctx context.Context, req improto.ReplicaCreateRequest) (improto.ReplicaInfo, error)
	ReplicaDelete(ctx context.Context, name string, cleanupDisk bool) error
	ReplicaGet(ctx context.Context, name string) (improto.ReplicaInfo, error)
	ReplicaList(ctx context.Context) ([]improto.ReplicaInfo, error)

	EngineCreate(ctx context.Context, req improto.EngineCreateRequest) (improto.EngineInfo, error)
	EngineDelete(ctx context.Context, name string) error
	EngineGet(ctx context.Context, name string) (improto.EngineInfo, error)
	EngineList(ctx context.Context) ([]improto.EngineInfo, error)
	EngineSnapshot(ctx context.Context, engine, snapshot string) error
	// EngineReplicaAdd joins a replica write-only and rebuilds it; the engine
	// reports it RW in EngineGet when the rebuild is done.
	EngineReplicaAdd(ctx context.Context, engine string, replica improto.EngineReplica) error
	EngineReplicaRemove(ctx context.Context, engine, replica string) error
	EngineUpgrade(ctx context.Context, engine, imagePath string) error

	// BackingImageList lists the node's per-disk copies of backing images;
	// BackingImageDelete deletes the copies of one that nothing clones.
	BackingImageList(ctx context.Context) ([]improto.BackingImageCopy, error)
	BackingImageDelete(ctx context.Context, image string) error

	// ReplicaBackupStart starts a backup of a replica's snapshot in the
	// background; ReplicaBackupStatus reports it (-19 when the node does
	// not know the backup, e.g. after a restart).
	ReplicaBackupStart(ctx context.Context, req improto.ReplicaBackupRequest) (improto.BackupJobStatus, error)
	ReplicaBackupStatus(ctx context.Context, backup string) (improto.BackupJobStatus, error)
	// ReplicaRestoreStart starts restoring a backup into a replica in the
	// background; ReplicaRestoreStatus reports it and the replica's
	// lastRestored.
	ReplicaRestoreStart(ctx context.Context, req improto.ReplicaRestoreRequest) (improto.RestoreStatus, error)
	ReplicaRestoreStatus(ctx context.Context, replica string) (improto.RestoreStatus, error)
}

// AgentDialer returns the NodeAgent of a node, reached at the addresses of
// its last heartbeat. Implementations may cache connections.
type AgentDialer interface {
	Agent(ctx context.Context, node api.Node) (NodeAgent, error)
}

// AgentDialerFunc adapts a function to AgentDialer.
type AgentDialerFunc func(ctx context.Context, node api.Node) (NodeAgent, error)

// Agent calls f.
func (f AgentDialerFunc) Agent(ctx context.Context, node api.Node) (NodeAgent, error) {
	return f(ctx, node)
}
