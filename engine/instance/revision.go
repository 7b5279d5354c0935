package instance

import (
	"context"

	"github.com/faultline/faultline/engine/improto"
)

// Revisions. Each replica head carries a revision (lvol xattr "revision",
// durable like all lvstore metadata). The node running the engine advances
// it on the replicas still RW: once when the engine starts, and again each
// time it sees a replica fail. A replica that failed therefore stops at a
// lower revision than those that kept taking writes, and auto-salvage
// revives the replicas with the highest revision, which hold the newest
// data. Replicas that fail together (an engine crash) keep equal revisions.
// The node sees a failure within monitorInterval; a crash inside that
// window leaves the failed replica's revision equal to the others'.

// advanceRevisions bumps the RW replicas' revision past every member's
// when the engine starts or a replica newly failed.
func (m *Manager) advanceRevisions(ctx context.Context, e *engine, modes map[string]string) {
	e.mu.Lock()
	changed := !e.revised
	e.revised = true
	for n, mode := range modes {
		if mode == improto.ModeERR && !e.failed[n] {
			e.failed[n] = true
			changed = true
		}
	}
	members := e.members
	e.mu.Unlock()
	if !changed {
		return
	}
	e.rev.Lock()
	defer e.rev.Unlock()
	var top uint64
	var rw []improto.EngineReplica
	for _, r := range members {
		var info improto.ReplicaInfo
		if err := m.peers.call(ctx, r.Address, improto.MethodReplicaGet, improto.NameRequest{Name: r.Name}, &info); err != nil {
			m.log.Warn("read replica revision", "replica", r.Name, "err", err)
			continue
		}
		top = max(top, info.Revision)
		e.noteRevision(r.Name, info.Revision)
		if modes[r.Name] == improto.ModeRW {
			rw = append(rw, r)
		}
	}
	for _, r := range rw {
		req := setRevisionRequest{Name: r.Name, Revision: top + 1}
		if err := m.peers.call(ctx, r.Address, methodReplicaSetRevision, req, nil); err != nil {
			m.log.Warn("advance replica revision", "replica", r.Name, "err", err)
			continue
		}
		e.noteRevision(r.Name, req.Revision)
	}
	m.log.Info("replica revisions advanced", "engine", e.req.Name, "revision", top+1, "replicas", len(rw))
}

// noteRevision records a replica's revision as this node read or set it.
func (e *engine) noteRevision(replica string, rev uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revisions[replica] = rev
}
