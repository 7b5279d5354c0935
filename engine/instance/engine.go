package instance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/nbd"
)

// monitorInterval is how often the node polls an engine for its replicas'
// modes (to advance revisions when a replica fails).
const monitorInterval = 500 * time.Millisecond

// engine is one volume engine on this node: the frontend export the node
// serves and the engine process behind it.
type engine struct {
	req   improto.EngineCreateRequest
	front *frontend

	// op serialises operations that change the engine (upgrade, replica
	// add/remove, snapshot, delete).
	op sync.Mutex

	mu       sync.Mutex
	proc     *proc
	image    string
	members  []improto.EngineReplica
	state    string
	err      string
	modes    map[string]string
	noSpace  uint64          // writes the engine failed for lack of space
	failed   map[string]bool // replicas seen ERR (revisions advanced past them)
	revised  bool            // revisions advanced at start
	rev      sync.Mutex      // serialises advanceRevisions
	stopped  bool
	stopDone chan struct{}
	// ctx ends when the engine is stopped (background rebuilds use it).
	ctx    context.Context
	cancel context.CancelFunc

	// revisions are the replicas' revisions as this node last read or
	// set them (advanceRevisions, rebuilds), for EngineInfo; under mu.
	revisions map[string]uint64
}

// createEngine starts an engine process over the replicas and exports its
// volume as the frontend. An engine that already runs with the same
// replicas is returned as it is; one that failed is replaced.
func (m *Manager) createEngine(ctx context.Context, req improto.EngineCreateRequest) (improto.EngineInfo, error) {
	if err := checkEngineRequest(req); err != nil {
		return improto.EngineInfo{}, err
	}
	m.mu.Lock()
	old, ok := m.engines[req.Name]
	m.mu.Unlock()
	if ok {
		old.mu.Lock()
		same := old.state == improto.StateRunning && sameMembers(old.members, req.Replicas) && old.req.FrontendExport == req.FrontendExport
		old.mu.Unlock()
		if same {
			return m.engineInfo(ctx, old), nil
		}
		if err := m.deleteEngine(ctx, req.Name); err != nil {
			return improto.EngineInfo{}, err
		}
	}
	image := req.ImagePath
	if image == "" {
		image = m.opts.EngineBinary
	}
	p, err := m.startProc(ctx, image, req.Name, req.Size, req.Replicas, false)
	if err != nil {
		return improto.EngineInfo{}, err
	}
	e := &engine{
		req: req, front: newFrontend(p.data), proc: p, image: image,
		members: slices.Clone(req.Replicas), state: improto.StateRunning,
		failed: map[string]bool{}, revisions: map[string]uint64{}, stopDone: make(chan struct{}),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if err := m.t.NBD().AddExport(req.FrontendExport, e.front, nbd.ExportOptions{Description: "volume " + req.Volume}); err != nil {
		p.stop()
		return improto.EngineInfo{}, fmt.Errorf("engine %s frontend: %w", req.Name, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.t.NBD().RemoveExport(req.FrontendExport)
		p.stop()
		return improto.EngineInfo{}, fmt.Errorf("engine %s: node is shutting down", req.Name)
	}
	m.engines[req.Name] = e
	m.mu.Unlock()
	m.watch(e, p)
	info := m.engineInfo(ctx, e)
	m.advanceRevisions(ctx, e, info.ReplicaModes)
	// No rebuild runs on a new engine: rebuild snapshots that an engine
	// before it left are garbage now.
	m.purgeMembers(ctx, e, info.ReplicaModes)
	m.log.Info("engine running", "engine", req.Name, "frontend", req.FrontendExport, "modes", info.ReplicaModes)
	return info, nil
}

func checkEngineRequest(req improto.EngineCreateRequest) error {
	if err := checkName("engine", req.Name); err != nil {
		return err
	}
	if err := checkName("frontend export", req.FrontendExport); err != nil {
		return err
	}
	if req.Size <= 0 {
		return fmt.Errorf("engine %s: size %d must be positive", req.Name, req.Size)
	}
	if len(req.Replicas) == 0 {
		return fmt.Errorf("engine %s: no replicas", req.Name)
	}
	for _, r := range req.Replicas {
		if err := checkReplicaRef(r); err != nil {
			return fmt.Errorf("engine %s: %w", req.Name, err)
		}
	}
	return nil
}

func checkReplicaRef(r improto.EngineReplica) error {
	if err := checkName("replica", r.Name); err != nil {
		return err
	}
	if err := checkName("export", r.Export); err != nil {
		return err
	}
	if r.Address == "" || strings.ContainsAny(r.Address, ", \x00") {
		return fmt.Errorf("replica %s: bad address %q", r.Name, r.Address)
	}
	return nil
}

func sameMembers(a, b []improto.EngineReplica) bool {
	key := func(rs []improto.EngineReplica) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.Name + "," + r.Address + "," + r.Export
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// watch marks the engine failed when its process dies on its own, and
// polls it for replica failures until then.
func (m *Manager) watch(e *engine, p *proc) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(monitorInterval)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				if p.stopping.Load() {
					return
				}
				p.closeConns()
				e.mu.Lock()
				if e.proc == p {
					e.state = improto.StateError
					e.err = fmt.Sprintf("engine process exited: %v", p.waitErr)
				}
				e.mu.Unlock()
				m.log.Error("engine process died", "engine", e.req.Name, "err", p.waitErr)
				return
			case <-e.stopDone:
				return
			case <-tick.C:
			}
			info, err := p.info(context.Background())
			if err != nil {
				continue
			}
			e.mu.Lock()
			current := e.proc == p
			if current {
				e.modes, e.noSpace = info.Modes, info.Intent.NoSpaceWrites
			}
			e.mu.Unlock()
			if current {
				m.advanceRevisions(context.Background(), e, info.Modes)
			}
		}
	}()
}

// engineInfo describes an engine, asking its process for the modes.
func (m *Manager) engineInfo(ctx context.Context, e *engine) improto.EngineInfo {
	e.mu.Lock()
	p := e.proc
	running := e.state == improto.StateRunning
	e.mu.Unlock()
	if running && p != nil {
		if info, err := p.info(ctx); err == nil {
			e.mu.Lock()
			if e.proc == p {
				e.modes, e.noSpace = info.Modes, info.Intent.NoSpaceWrites
			}
			e.mu.Unlock()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	info := improto.EngineInfo{
		Name: e.req.Name, Volume: e.req.Volume, Size: e.req.Size, State: e.state,
		Endpoint:     "nbd://" + m.opts.NBDAddress + "/" + e.req.FrontendExport,
		ReplicaModes: maps.Clone(e.modes), ImagePath: e.image, Error: e.err, NoSpaceWrites: e.noSpace,
		ReplicaRevisions: maps.Clone(e.revisions),
	}
	if e.state == improto.StateError {
		// A dead engine serves no replica.
		for n := range info.ReplicaModes {
			info.ReplicaModes[n] = improto.ModeERR
		}
	}
	return info
}

func (m *Manager) lookupEngine(name string) (*engine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.engines[name]
	if !ok {
		return nil, errNotFound("engine", name)
	}
	return e, nil
}

func (m *Manager) getEngine(ctx context.Context, name string) (improto.EngineInfo, error) {
	e, err := m.lookupEngine(name)
	if err != nil {
		return improto.EngineInfo{}, err
	}
	return m.engineInfo(ctx, e), nil
}

func (m *Manager) listEngines(ctx context.Context) []improto.EngineInfo {
	m.mu.Lock()
	es := make([]*engine, 0, len(m.engines))
	for _, e := range m.engines {
		es = append(es, e)
	}
	m.mu.Unlock()
	sort.Slice(es, func(i, j int) bool { return es[i].req.Name < es[j].req.Name })
	out := make([]improto.EngineInfo, 0, len(es))
	for _, e := range es {
		out = append(out, m.engineInfo(ctx, e))
	}
	return out
}

// deleteEngine removes the frontend export and stops the engine process.
// A missing engine is fine.
func (m *Manager) deleteEngine(ctx context.Context, name string) error {
	e, err := m.lookupEngine(name)
	if err != nil {
		return nil
	}
	err = m.stopEngine(e)
	m.mu.Lock()
	if m.engines[name] == e {
		delete(m.engines, name)
	}
	m.mu.Unlock()
	m.log.Info("engine deleted", "engine", name)
	return err
}

// stopEngine takes the frontend down and stops the process.
func (m *Manager) stopEngine(e *engine) error {
	e.cancel() // a running rebuild gives up and releases e.op
	e.op.Lock()
	defer e.op.Unlock()
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	close(e.stopDone)
	p := e.proc
	e.state = improto.StateStopped
	e.mu.Unlock()
	if err := m.t.NBD().RemoveExport(e.req.FrontendExport); err != nil {
		m.log.Warn("remove frontend export", "engine", e.req.Name, "err", err)
	}
	e.front.Close()
	if p == nil {
		return nil
	}
	if err := p.stop(); err != nil {
		return fmt.Errorf("stop engine %s: %w", e.req.Name, err)
	}
	return nil
}
