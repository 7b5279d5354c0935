package instance

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// Extension methods nodes call on each other (not part of improto: the
// manager never calls them).
const (
	methodReplicaSetRevision = "im_replica_set_revision"
	methodReplicaSnapshot    = "im_replica_snapshot"
	// methodReplicaPurge deletes a replica's rebuild snapshots and answers
	// how many it deleted.
	methodReplicaPurge = "im_replica_purge"
)

type setRevisionRequest struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
}

type replicaSnapshotRequest struct {
	Name     string `json:"name"`
	Snapshot string `json:"snapshot"`
}

// errNotFound is the error for an unknown instance: -19, as SPDK answers
// for an unknown bdev.
func errNotFound(kind, name string) error {
	return jsonrpc.Errorf(codeNoDevice, "No such device: %s %s", kind, name)
}

// Register adds the im_* methods to the node's JSON-RPC server.
func (m *Manager) Register(srv *jsonrpc.Server) {
	for name, h := range m.handlers() {
		srv.Register(name, h)
	}
}

// method adapts a typed function to a jsonrpc.Handler: strict decoding of
// P (required keys listed), errors returned as JSON-RPC errors.
func method[P any](required []string, fn func(ctx context.Context, p *P) (any, error)) jsonrpc.Handler {
	return func(ctx context.Context, params json.RawMessage) (any, error) {
		var p P
		if err := jsonrpc.DecodeParams(params, &p, jsonrpc.CodeInvalidParams, required...); err != nil {
			return nil, err
		}
		res, err := fn(ctx, &p)
		if err != nil {
			var e *jsonrpc.Error
			if errors.As(err, &e) {
				return nil, err
			}
			return nil, jsonrpc.Errorf(jsonrpc.CodeInternalError, "%v", err)
		}
		return res, nil
	}
}

type noParams struct{}

func (m *Manager) handlers() map[string]jsonrpc.Handler {
	name := []string{"name"}
	return map[string]jsonrpc.Handler{
		improto.MethodReplicaCreate: method(name, func(ctx context.Context, p *improto.ReplicaCreateRequest) (any, error) {
			return m.createReplica(ctx, *p)
		}),
		improto.MethodReplicaDelete: method(name, func(ctx context.Context, p *improto.ReplicaDeleteRequest) (any, error) {
			return true, m.deleteReplica(ctx, *p)
		}),
		improto.MethodReplicaGet: method(name, func(ctx context.Context, p *improto.NameRequest) (any, error) {
			return m.getReplica(ctx, p.Name)
		}),
		improto.MethodReplicaList: method(nil, func(ctx context.Context, p *noParams) (any, error) {
			return improto.ReplicaList{Replicas: m.listReplicas(ctx)}, nil
		}),
		improto.MethodEngineCreate: method(name, func(ctx context.Context, p *improto.EngineCreateRequest) (any, error) {
			return m.createEngine(ctx, *p)
		}),
		improto.MethodEngineDelete: method(name, func(ctx context.Context, p *improto.NameRequest) (any, error) {
			return true, m.deleteEngine(ctx, p.Name)
		}),
		improto.MethodEngineGet: method(name, func(ctx context.Context, p *improto.NameRequest) (any, error) {
			return m.getEngine(ctx, p.Name)
		}),
		improto.MethodEngineList: method(nil, func(ctx context.Context, p *noParams) (any, error) {
			return improto.EngineList{Engines: m.listEngines(ctx)}, nil
		}),
		improto.MethodEngineSnapshot: method([]string{"name", "snapshot"}, func(ctx context.Context, p *improto.EngineSnapshotRequest) (any, error) {
			return true, m.snapshotEngine(ctx, p.Name, p.Snapshot)
		}),
		improto.MethodEngineReplicaAdd: method([]string{"name", "replica"}, func(ctx context.Context, p *improto.EngineReplicaAddRequest) (any, error) {
			return true, m.addReplica(ctx, p.Name, p.Replica)
		}),
		improto.MethodEngineReplicaRemove: method([]string{"name", "replica"}, func(ctx context.Context, p *improto.EngineReplicaRemoveRequest) (any, error) {
			return true, m.removeReplica(ctx, p.Name, p.Replica)
		}),
		improto.MethodEngineUpgrade: method(name, func(ctx context.Context, p *improto.EngineUpgradeRequest) (any, error) {
			return true, m.upgradeEngine(ctx, p.Name, p.ImagePath)
		}),
		methodReplicaSetRevision: method([]string{"name", "revision"}, func(ctx context.Context, p *setRevisionRequest) (any, error) {
			return true, m.setRevision(ctx, p.Name, p.Revision)
		}),
		methodRebuildSrcExport:   method([]string{"replica", "lvol"}, m.rebuildSrcExport),
		methodRebuildSrcUnexport: method([]string{"lvol"}, m.rebuildSrcUnexport),
		methodRebuildSrcCopy:     method([]string{"replica", "lvol", "address", "export"}, m.rebuildSrcCopy),
		methodRebuildDstStart:    method([]string{"replica", "address", "export"}, m.rebuildDstStart),
		methodRebuildDstPrepare:  method([]string{"replica"}, m.rebuildDstPrepare),
		methodRebuildDstCommit:   method([]string{"replica", "lvol"}, m.rebuildDstCommit),
		methodRebuildDstFinish:   method([]string{"replica", "lvol"}, m.rebuildDstFinish),
		improto.MethodBackingImageList: method(nil, func(ctx context.Context, p *noParams) (any, error) {
			copies, err := m.backingImageCopies(ctx)
			return improto.BackingImageList{Copies: copies}, err
		}),
		improto.MethodBackingImageDelete: method(name, func(ctx context.Context, p *improto.NameRequest) (any, error) {
			return m.deleteBackingImage(ctx, p.Name)
		}),
		methodReplicaPurge: method(name, func(ctx context.Context, p *improto.NameRequest) (any, error) {
			return m.purgeSystemSnapshots(ctx, p.Name)
		}),
		methodReplicaSnapshot: method([]string{"name", "snapshot"}, func(ctx context.Context, p *replicaSnapshotRequest) (any, error) {
			return true, m.snapshotReplica(ctx, p.Name, p.Snapshot)
		}),
		improto.MethodReplicaBackupStart: method([]string{"replica", "snapshot", "target", "volume", "backup"}, func(ctx context.Context, p *improto.ReplicaBackupRequest) (any, error) {
			return m.startBackup(ctx, *p)
		}),
		improto.MethodReplicaBackupStatus: method([]string{"backup"}, func(ctx context.Context, p *improto.BackupNameRequest) (any, error) {
			return m.getBackup(p.Backup)
		}),
		improto.MethodReplicaRestoreStart: method([]string{"replica", "target", "volume", "backup"}, func(ctx context.Context, p *improto.ReplicaRestoreRequest) (any, error) {
			return m.startRestore(ctx, *p)
		}),
		improto.MethodReplicaRestoreStatus: method([]string{"replica"}, func(ctx context.Context, p *improto.ReplicaNameRequest) (any, error) {
			return m.restoreStatus(ctx, p.Replica)
		}),
	}
}
