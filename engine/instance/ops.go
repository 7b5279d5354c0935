package instance

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/engine/improto"
)

// runningEngine returns an engine that runs, with its op lock held; the
// caller unlocks e.op.
func (m *Manager) runningEngine(name string) (*engine, *proc, error) {
	e, err := m.lookupEngine(name)
	if err != nil {
		return nil, nil, err
	}
	e.op.Lock()
	e.mu.Lock()
	p, state := e.proc, e.state
	e.mu.Unlock()
	if state != improto.StateRunning || p == nil {
		e.op.Unlock()
		return nil, nil, fmt.Errorf("engine %s is %s", name, state)
	}
	return e, p, nil
}

// snapshotEngine takes a snapshot on every replica that takes writes, with
// frontend I/O drained and held so all replicas hold the same data.
func (m *Manager) snapshotEngine(ctx context.Context, name, snapshot string) error {
	if err := checkName("snapshot", snapshot); err != nil {
		return err
	}
	e, p, err := m.runningEngine(name)
	if err != nil {
		return err
	}
	defer e.op.Unlock()
	e.front.Suspend()
	defer e.front.Resume()
	return m.snapshotMembers(ctx, e, p, snapshot)
}

// snapshotMembers flushes the engine and snapshots its RW and WO replicas;
// the caller holds frontend I/O.
func (m *Manager) snapshotMembers(ctx context.Context, e *engine, p *proc, snapshot string) error {
	if err := p.ctl.Call(ctx, engineproc.MethodFlush, nil, nil); err != nil {
		return fmt.Errorf("engine %s flush before snapshot: %w", e.req.Name, err)
	}
	info, err := p.info(ctx)
	if err != nil {
		return fmt.Errorf("engine %s: %w", e.req.Name, err)
	}
	e.mu.Lock()
	members := slices.Clone(e.members)
	e.mu.Unlock()
	var errs []error
	for _, r := range members {
		if mode := info.Modes[r.Name]; mode != improto.ModeRW && mode != improto.ModeWO {
			continue
		}
		err := m.peers.call(ctx, r.Address, methodReplicaSnapshot, replicaSnapshotRequest{Name: r.Name, Snapshot: snapshot}, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("snapshot replica %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// snapshotReplica snapshots a replica's head as <replica>-snap-<snapshot>;
// an existing snapshot of that name counts as done.
func (m *Manager) snapshotReplica(ctx context.Context, name, snapshot string) error {
	if err := checkName("snapshot", snapshot); err != nil {
		return err
	}
	r, err := m.knownReplica(name)
	if err != nil {
		return err
	}
	lvs := r.LvstoreName
	snap := name + "-snap-" + snapshot
	if _, exists, err := getLvol(ctx, m.t, lvs, snap); err != nil || exists {
		return err
	}
	if err := m.t.Call(ctx, "bdev_lvol_snapshot", map[string]any{"lvol_name": lvs + "/" + name, "snapshot_name": snap}, nil); err != nil {
		return fmt.Errorf("snapshot %s/%s: %w", lvs, snap, err)
	}
	return nil
}

// removeReplica takes a replica out of a running engine.
func (m *Manager) removeReplica(ctx context.Context, name, replica string) error {
	e, p, err := m.runningEngine(name)
	if err != nil {
		return err
	}
	defer e.op.Unlock()
	if err := p.ctl.Call(ctx, engineproc.MethodReplicaRemove, engineproc.NameRequest{Name: replica}, nil); err != nil {
		return fmt.Errorf("engine %s remove replica %s: %w", name, replica, err)
	}
	e.mu.Lock()
	e.members = slices.DeleteFunc(e.members, func(r improto.EngineReplica) bool { return r.Name == replica })
	delete(e.modes, replica)
	e.mu.Unlock()
	m.log.Info("replica removed from engine", "engine", name, "replica", replica)
	return nil
}

// upgradeEngine switches a running engine to a process started from
// another engine image without taking the frontend down: the new process
// is started over the RW replicas in standby, frontend I/O is drained and
// held, the old process flushed and its write-intent log handed over to the
// new process, the frontend pointed at the new process and resumed, and the
// old process stopped. If the new process fails before the switch the
// upgrade is abandoned and the old process keeps serving; if the old one
// cannot take its log back then, it is stopped and the engine reported
// failed, so the volume recovers as after a crash.
func (m *Manager) upgradeEngine(ctx context.Context, name, image string) error {
	if image == "" {
		image = m.opts.EngineBinary
	}
	e, old, err := m.runningEngine(name)
	if err != nil {
		return err
	}
	defer e.op.Unlock()
	info, err := old.info(ctx)
	if err != nil {
		return fmt.Errorf("engine %s upgrade: %w", name, err)
	}
	e.mu.Lock()
	var rw []improto.EngineReplica
	for _, r := range e.members {
		switch info.Modes[r.Name] {
		case improto.ModeRW:
			rw = append(rw, r)
		case improto.ModeWO:
			e.mu.Unlock()
			return fmt.Errorf("engine %s upgrade: replica %s is rebuilding", name, r.Name)
		}
	}
	e.mu.Unlock()
	if len(rw) == 0 {
		return fmt.Errorf("engine %s upgrade: no RW replica", name)
	}
	next, err := m.startProc(ctx, image, name, e.req.Size, rw, true)
	if err != nil {
		return fmt.Errorf("engine %s upgrade abandoned: %w", name, err)
	}
	e.front.Suspend()
	err = e.front.CanSwitch(next.data)
	if err == nil {
		err = handOver(ctx, old, next)
	}
	if err == nil {
		err = e.front.Switch(next.data)
	}
	if err != nil {
		next.stop()
		if errors.Is(err, errNoTakeBack) {
			e.mu.Lock()
			e.state, e.err = improto.StateError, err.Error()
			e.mu.Unlock()
			old.kill()
		}
		e.front.Resume()
		return fmt.Errorf("engine %s upgrade abandoned: %w", name, err)
	}
	old.stopping.Store(true)
	e.mu.Lock()
	e.proc, e.image, e.members = next, image, rw
	e.modes = nil
	e.mu.Unlock()
	e.front.Resume()
	m.watch(e, next)
	if err := old.stop(); err != nil {
		m.log.Warn("stop old engine process", "engine", name, "err", err)
	}
	m.log.Info("engine upgraded", "engine", name, "image", image, "pid", next.cmd.Process.Pid)
	return nil
}

// errNoTakeBack is wrapped when an abandoned upgrade leaves the old engine
// process unable to keep its write-intent log.
var errNoTakeBack = errors.New("the old engine process could not take its replicas back")

// handOver moves the replicas' write-intent log from the old engine
// process to the new one, with frontend I/O held: the old one flushes and
// stops keeping the log, the new one takes it over (and brings a replica
// that missed writes up to date). When the new one cannot, the old one
// takes the log back.
func handOver(ctx context.Context, old, next *proc) error {
	if err := old.ctl.Call(ctx, engineproc.MethodFlush, nil, nil); err != nil {
		return fmt.Errorf("flush old engine: %w", err)
	}
	if err := old.ctl.Call(ctx, engineproc.MethodDeactivate, nil, nil); err != nil {
		return fmt.Errorf("deactivate old engine: %w", err)
	}
	handover := engineproc.ActivateRequest{Mode: engineproc.ModeHandover}
	if err := next.ctl.Call(ctx, engineproc.MethodActivate, handover, nil); err != nil {
		if rerr := old.ctl.Call(context.WithoutCancel(ctx), engineproc.MethodActivate, handover, nil); rerr != nil {
			return fmt.Errorf("activate new engine: %w; %w: %v", err, errNoTakeBack, rerr)
		}
		return fmt.Errorf("activate new engine: %w", err)
	}
	return nil
}
