package instance

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/engine/improto"
)

// addReplica joins a replica to a running engine and rebuilds it, v2-style:
//
//  1. With frontend I/O held: a rebuild snapshot on every replica that
//     takes writes; the source (an RW replica) exports its rebuild snapshot;
//     the destination's head becomes a clone of that export (an external
//     snapshot); the engine adds the destination write-only.
//  2. In the background, each source snapshot, oldest first, is copied with
//     a shallow copy into <dst>-rebuilding on the destination (a clone of
//     the previous copy, or of the destination's own backing image lvol
//     found by image name), which then becomes <dst>-snap-<name>.
//  3. With frontend I/O held: the destination head is re-parented onto its
//     copy of the rebuild snapshot.
//  4. The rebuild snapshots are purged on every replica (merged into their
//     child) and the replica is set RW.
//
// The call returns after step 1; EngineInfo shows WO until step 3, and ERR
// if the rebuild fails.
func (m *Manager) addReplica(ctx context.Context, name string, dst improto.EngineReplica) error {
	if err := checkReplicaRef(dst); err != nil {
		return err
	}
	e, p, err := m.runningEngine(name)
	if err != nil {
		return err
	}
	handed := false
	defer func() {
		if !handed {
			e.op.Unlock()
		}
	}()
	info, err := p.info(ctx)
	if err != nil {
		return fmt.Errorf("engine %s: %w", name, err)
	}
	if mode, ok := info.Modes[dst.Name]; ok && mode != improto.ModeERR {
		return nil // already a member (a retried call)
	}
	e.mu.Lock()
	var src improto.EngineReplica
	for _, r := range e.members {
		if info.Modes[r.Name] == improto.ModeRW && src.Name == "" {
			src = r
		}
	}
	e.mu.Unlock()
	if src.Name == "" {
		return fmt.Errorf("engine %s: no RW replica to rebuild %s from", name, dst.Name)
	}
	if info.Modes[dst.Name] == improto.ModeERR {
		if err := p.ctl.Call(ctx, engineproc.MethodReplicaRemove, engineproc.NameRequest{Name: dst.Name}, nil); err != nil {
			return fmt.Errorf("engine %s: drop failed %s before rebuild: %w", name, dst.Name, err)
		}
	}
	// A source or destination this node cannot reach (a network
	// partition) would hold the volume's I/O for heldIOTimeout: ask both
	// first, with I/O flowing, and fail at once.
	for _, r := range []improto.EngineReplica{src, dst} {
		pctx, pcancel := context.WithTimeout(ctx, reachTimeout)
		err := m.peers.call(pctx, r.Address, improto.MethodReplicaGet, improto.NameRequest{Name: r.Name}, &improto.ReplicaInfo{})
		pcancel()
		if err != nil {
			return fmt.Errorf("engine %s: rebuild of %s: replica %s at %s does not answer: %w", name, dst.Name, r.Name, r.Address, err)
		}
	}
	snap := "rebuild-" + rand.Text()[:8]
	srcSnap := src.Name + "-snap-" + snap
	e.front.Suspend()
	hctx, cancel := context.WithTimeout(ctx, heldIOTimeout)
	err = m.rebuildStart(hctx, e, p, src, dst, snap, srcSnap)
	cancel()
	e.front.Resume()
	if err != nil {
		m.peers.call(context.WithoutCancel(ctx), src.Address, methodRebuildSrcUnexport, rebuildRequest{Replica: src.Name, Lvol: srcSnap}, nil)
		return fmt.Errorf("engine %s: start rebuild of %s: %w", name, dst.Name, err)
	}
	e.mu.Lock()
	e.members = append(slices.DeleteFunc(e.members, func(r improto.EngineReplica) bool { return r.Name == dst.Name }), dst)
	e.mu.Unlock()
	m.log.Info("rebuild started", "engine", name, "replica", dst.Name, "source", src.Name, "snapshot", snap)
	handed = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer e.op.Unlock()
		err := m.rebuildCopy(e.ctx, e, p, src, dst, snap, srcSnap)
		m.peers.call(context.Background(), src.Address, methodRebuildSrcUnexport, rebuildRequest{Replica: src.Name, Lvol: srcSnap}, nil)
		if err == nil {
			err = m.rebuildDone(e.ctx, e, p, dst)
		}
		if err != nil {
			m.log.Error("rebuild failed", "engine", name, "replica", dst.Name, "err", err)
			if p.ctl.Call(context.Background(), engineproc.MethodReplicaMode, engineproc.ModeRequest{Name: dst.Name, Mode: improto.ModeERR}, nil) != nil {
				m.log.Warn("could not mark the rebuilding replica ERR", "replica", dst.Name)
			}
			if info, ierr := p.info(context.Background()); ierr == nil {
				m.purgeMembers(context.Background(), e, info.Modes)
			}
			return
		}
		m.log.Info("rebuild done", "engine", name, "replica", dst.Name)
	}()
	return nil
}

// heldIOTimeout bounds each stretch of a rebuild that holds the volume's
// frontend I/O. Its calls go to other nodes; without a bound, a peer behind
// a network partition would freeze the volume until TCP gave up on the
// connection (minutes): the handler's context ends only when the manager's
// connection does.
const heldIOTimeout = 15 * time.Second

// reachTimeout bounds the check, before a rebuild holds I/O, that its
// source and destination answer.
const reachTimeout = 3 * time.Second

// rebuildStart is step 1; the caller holds frontend I/O.
func (m *Manager) rebuildStart(ctx context.Context, e *engine, p *proc, src, dst improto.EngineReplica, snap, srcSnap string) error {
	if err := m.snapshotMembers(ctx, e, p, snap); err != nil {
		return err
	}
	var export string
	if err := m.peers.call(ctx, src.Address, methodRebuildSrcExport, rebuildRequest{Replica: src.Name, Lvol: srcSnap}, &export); err != nil {
		return err
	}
	if err := m.peers.call(ctx, dst.Address, methodRebuildDstStart, rebuildRequest{Replica: dst.Name, Address: src.Address, Export: export}, nil); err != nil {
		return err
	}
	return p.ctl.Call(ctx, engineproc.MethodReplicaAdd, m.engineReplica(dst), nil)
}

// rebuildCopy is steps 2 and 3.
func (m *Manager) rebuildCopy(ctx context.Context, e *engine, p *proc, src, dst improto.EngineReplica, snap, srcSnap string) error {
	var si improto.ReplicaInfo
	if err := m.peers.call(ctx, src.Address, improto.MethodReplicaGet, improto.NameRequest{Name: src.Name}, &si); err != nil {
		return err
	}
	base := ""
	if len(si.Chain) > 0 && imageOfLvol(si.Chain[0]) != "" {
		base = si.Chain[0]
	}
	prefix := src.Name + "-snap-"
	parent := ""
	for _, lvol := range si.Chain {
		suffix, ok := strings.CutPrefix(lvol, prefix)
		if !ok {
			continue
		}
		var export string
		if err := m.peers.call(ctx, dst.Address, methodRebuildDstPrepare, rebuildRequest{Replica: dst.Name, Parent: parent, SourceBase: base}, &export); err != nil {
			return err
		}
		if err := m.peers.call(ctx, src.Address, methodRebuildSrcCopy, rebuildRequest{Replica: src.Name, Lvol: lvol, Address: dst.Address, Export: export}, nil); err != nil {
			return err
		}
		copied := dst.Name + "-snap-" + suffix
		if err := m.peers.call(ctx, dst.Address, methodRebuildDstCommit, rebuildRequest{Replica: dst.Name, Lvol: copied}, nil); err != nil {
			return err
		}
		parent = copied
		if lvol == srcSnap {
			break
		}
	}
	if parent != dst.Name+"-snap-"+snap {
		return fmt.Errorf("rebuild snapshot %s not found in the chain of %s: %v", srcSnap, src.Name, si.Chain)
	}
	e.front.Suspend()
	defer e.front.Resume()
	ctx, cancel := context.WithTimeout(ctx, heldIOTimeout)
	defer cancel()
	if err := p.ctl.Call(ctx, engineproc.MethodFlush, nil, nil); err != nil {
		return err
	}
	if err := m.peers.call(ctx, dst.Address, methodRebuildDstFinish, rebuildRequest{Replica: dst.Name, Lvol: parent}, nil); err != nil {
		return err
	}
	if err := m.peers.call(ctx, dst.Address, methodReplicaSetRevision, setRevisionRequest{Name: dst.Name, Revision: si.Revision}, nil); err != nil {
		m.log.Warn("copy revision to rebuilt replica", "replica", dst.Name, "err", err)
		return nil
	}
	e.noteRevision(dst.Name, si.Revision)
	return nil
}

// rebuildDone purges the rebuild snapshots, which have served their
// purpose on every replica, before the rebuilt replica counts as RW, so a
// healthy volume never carries one; then it makes the replica RW.
func (m *Manager) rebuildDone(ctx context.Context, e *engine, p *proc, dst improto.EngineReplica) error {
	info, err := p.info(ctx)
	if err != nil {
		return err
	}
	m.purgeMembers(ctx, e, info.Modes, dst.Name)
	return p.ctl.Call(ctx, engineproc.MethodReplicaMode, engineproc.ModeRequest{Name: dst.Name, Mode: improto.ModeRW}, nil)
}
