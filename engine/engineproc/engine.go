// Package engineproc is the logic of an engine process (`refengine engine`):
// a raid1 over NBD connections to a volume's replica exports, served on an
// internal NBD socket for the node's frontend, with a small JSON-RPC control
// channel. Running the engine as its own process makes an engine crash
// abrupt (SIGKILL, no cleanup) and lets a live upgrade switch the code that
// serves a volume while the node keeps the frontend up.
package engineproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/engine/raid1"
)

// Config is what an engine process needs to start.
type Config struct {
	Name     string
	Size     int64
	Replicas []Replica
	// ControlSocket and NBDSocket are Unix socket paths.
	ControlSocket, NBDSocket string
	// DialTimeout bounds connecting to each replica at start.
	DialTimeout time.Duration
	// SourceAddress is the IP replica connections leave from ("" lets the
	// kernel choose); see package srcaddr.
	SourceAddress string
	// Standby starts the engine for a live upgrade: it connects and
	// serves, but takes no writes until engine_activate (after the engine
	// it replaces was flushed and deactivated). Otherwise the engine
	// activates before it serves, resyncing what a crash may have left.
	Standby bool
	// Defects are defect switches (only no-resync-after-crash matters here).
	Defects []string
	Log     *slog.Logger
}

// Engine is a running engine: the raid and the replica connections under it.
type Engine struct {
	name    string
	source  string // Config.SourceAddress
	log     *slog.Logger
	raid    *raid1.Raid
	standby bool
	defects map[string]bool

	mu       sync.Mutex
	clients  map[string]*nbd.Client // members, by replica name
	bitmaps  map[string]*nbd.Client // their write-intent bitmaps
	failed   map[string]string      // replicas that could not be reached or were dropped
	state    string
	progress Progress
	resync   *raid1.ResyncStats
	actErr   string
}

// dialReplica opens one replica's NBD export and, when it has one, its
// bitmap's export (bitmap is nil otherwise).
func dialReplica(ctx context.Context, source string, r Replica, timeout time.Duration) (data, bitmap *nbd.Client, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := "tcp"
	if len(r.Address) > 0 && r.Address[0] == '/' {
		network = "unix"
	}
	data, err = nbd.DialWith(ctx, network, r.Address, r.Export, nbd.DialOptions{Source: source, Key: r.Key})
	if err != nil {
		return nil, nil, fmt.Errorf("replica %s: %w", r.Name, err)
	}
	if r.Bitmap == "" {
		return data, nil, nil
	}
	bitmap, err = nbd.DialWith(ctx, network, r.Address, r.Bitmap, nbd.DialOptions{Source: source, Key: r.BitmapKey})
	if err != nil {
		data.Close()
		return nil, nil, fmt.Errorf("replica %s write-intent bitmap: %w", r.Name, err)
	}
	return data, bitmap, nil
}

// member is the raid member of a connected replica.
func member(name string, data, bitmap *nbd.Client) raid1.Member {
	m := raid1.Member{Name: name, Dev: data}
	if bitmap != nil {
		m.Bitmap = bitmap
	}
	return m
}

// New connects to the replicas and builds the raid. Replicas that cannot
// be reached are reported ERR; at least one must be reachable.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	e := &Engine{name: cfg.Name, source: cfg.SourceAddress, log: log, standby: cfg.Standby, defects: map[string]bool{},
		clients: map[string]*nbd.Client{}, bitmaps: map[string]*nbd.Client{}, failed: map[string]string{}, state: StateActivating}
	for _, d := range cfg.Defects {
		e.defects[d] = true
	}
	if cfg.Standby {
		e.state = StateStandby
	}
	var members []raid1.Member
	for _, r := range cfg.Replicas {
		c, bm, err := dialReplica(ctx, cfg.SourceAddress, r, cfg.DialTimeout)
		if err != nil {
			log.Warn("replica unreachable at start", "replica", r.Name, "err", err)
			e.failed[r.Name] = err.Error()
			continue
		}
		if cfg.Size > 0 && c.Size() < cfg.Size {
			c.Close()
			if bm != nil {
				bm.Close()
			}
			e.failed[r.Name] = fmt.Sprintf("replica holds %d bytes, the volume %d", c.Size(), cfg.Size)
			continue
		}
		e.clients[r.Name] = c
		if bm != nil {
			e.bitmaps[r.Name] = bm
		}
		members = append(members, member(r.Name, c, bm))
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("engine %s: no replica reachable: %v", cfg.Name, e.failed)
	}
	raid, err := raid1.New(cfg.Name, members, raid1.Options{
		Log: log,
		OnMemberFailed: func(name string, err error) {
			log.Warn("replica failed", "replica", name, "err", err)
		},
	})
	if err != nil {
		e.closeClients()
		return nil, fmt.Errorf("engine %s: %w", cfg.Name, err)
	}
	e.raid = raid
	return e, nil
}

// Raid is the engine's volume device.
func (e *Engine) Raid() *raid1.Raid { return e.raid }

// Info reports the replicas' modes.
func (e *Engine) Info() Info {
	info := Info{Name: e.name, Size: e.raid.Size(), Modes: map[string]string{}, Errors: map[string]string{}, Suspended: e.raid.Suspended(), PID: os.Getpid(),
		Intent: e.raid.Intent()}
	e.mu.Lock()
	info.State, info.Progress, info.Resync, info.Error = e.state, e.progress, e.resync, e.actErr
	for n, why := range e.failed {
		info.Modes[n] = string(raid1.StateERR)
		info.Errors[n] = why
	}
	e.mu.Unlock()
	for _, m := range e.raid.Members() {
		info.Modes[m.Name] = string(m.State)
		if m.Err != "" {
			info.Errors[m.Name] = m.Err
		}
	}
	return info
}

// AddReplica connects to a replica and joins it write-only.
func (e *Engine) AddReplica(ctx context.Context, r Replica) error {
	if r.Name == "" || r.Address == "" || r.Export == "" {
		return errors.New("replica needs name, address and export")
	}
	e.mu.Lock()
	_, exists := e.clients[r.Name]
	e.mu.Unlock()
	if exists {
		return fmt.Errorf("replica %s is already a member", r.Name)
	}
	c, bm, err := dialReplica(ctx, e.source, r, 10*time.Second)
	if err != nil {
		return err
	}
	drop := func() {
		c.Close()
		if bm != nil {
			bm.Close()
		}
	}
	if c.Size() < e.raid.Size() {
		drop()
		return fmt.Errorf("replica %s holds %d bytes, the volume %d", r.Name, c.Size(), e.raid.Size())
	}
	if err := e.raid.AddMember(member(r.Name, c, bm)); err != nil {
		drop()
		return fmt.Errorf("add replica %s: %w", r.Name, err)
	}
	e.mu.Lock()
	e.clients[r.Name] = c
	if bm != nil {
		e.bitmaps[r.Name] = bm
	}
	delete(e.failed, r.Name)
	e.mu.Unlock()
	return nil
}

// SetMode sets a member RW, WO or ERR.
func (e *Engine) SetMode(name, mode string) error {
	return e.raid.SetMemberState(name, raid1.State(mode))
}

// RemoveReplica takes a replica out and closes its connection.
func (e *Engine) RemoveReplica(name string) error {
	e.mu.Lock()
	c, ok := e.clients[name]
	bm := e.bitmaps[name]
	_, failed := e.failed[name]
	delete(e.failed, name)
	delete(e.clients, name)
	delete(e.bitmaps, name)
	e.mu.Unlock()
	if !ok {
		if failed {
			return nil
		}
		return fmt.Errorf("replica %s is not a member", name)
	}
	err := e.raid.RemoveMember(name)
	c.Close()
	if bm != nil {
		bm.Close()
	}
	if err != nil {
		return fmt.Errorf("remove replica %s: %w", name, err)
	}
	return nil
}

func (e *Engine) closeClients() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.clients {
		c.Close()
	}
	for _, c := range e.bitmaps {
		c.Close()
	}
}

// Activate turns the write-intent log on (see raid1.Activate): after a
// crash the replicas are brought in line over the regions in doubt; on a
// handover only a replica that missed writes is. An engine whose replicas
// have no bitmaps has nothing to activate.
func (e *Engine) Activate(ctx context.Context, mode string) error {
	var m raid1.ActivateMode
	switch mode {
	case ModeCrash:
		m = raid1.AfterCrash
	case ModeHandover:
		m = raid1.Handover
	default:
		return fmt.Errorf("activate engine %s: unknown mode %q (want %s or %s)", e.name, mode, ModeCrash, ModeHandover)
	}
	e.mu.Lock()
	e.state, e.actErr, e.progress = StateActivating, "", Progress{}
	e.mu.Unlock()
	if !e.raid.Intent().Enabled {
		e.setState(StateReady)
		return nil
	}
	opts := raid1.ActivateOptions{Mode: m, Progress: func(done, total int64) {
		e.mu.Lock()
		e.progress = Progress{Done: done, Total: total}
		e.mu.Unlock()
	}}
	if m == raid1.AfterCrash && e.defects[DefectNoResyncAfterCrash] {
		opts.SkipResync = true
	}
	st, err := e.raid.Activate(ctx, opts)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resync = &st
	if err != nil {
		e.actErr = err.Error()
		return fmt.Errorf("activate engine %s: %w", e.name, err)
	}
	e.state = StateReady
	return nil
}

// Deactivate turns the write-intent log off so that another engine can
// take the replicas over; the caller holds I/O and flushed first.
func (e *Engine) Deactivate() {
	e.raid.Deactivate()
	e.setState(StateStandby)
}

func (e *Engine) setState(s string) {
	e.mu.Lock()
	e.state = s
	e.mu.Unlock()
}

// Close flushes the raid (when a replica can still take it) and closes
// the replica connections.
func (e *Engine) Close() error {
	var ferr error
	if e.raid.Online() {
		ferr = e.raid.Flush()
	}
	err := e.raid.Close()
	e.closeClients()
	return errors.Join(ferr, err)
}

// ProbeInterval is how often an engine flushes its raid to find replicas
// whose connection is gone even when no workload I/O reaches them.
const ProbeInterval = time.Second

// probe flushes the raid every interval until ctx ends: a replica whose node
// died fails the flush and goes ERR, as it would on the next workload I/O,
// so the manager learns of it without waiting for traffic. The cost is one
// FLUSH per replica per interval.
func (e *Engine) probe(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !e.raid.Suspended() {
			e.raid.Flush()
		}
	}
}

// Serve serves the control methods on ctlL at once and, once the engine
// is active (or in standby), the raid on nbdL, until ctx is done; then it
// closes the engine. A standby engine waits for engine_activate; any other
// engine activates first, bringing its replicas in line after a crash, and
// reports its progress on the control channel meanwhile. A failed
// activation ends Serve with its error.
func (e *Engine) Serve(ctx context.Context, ctlL, nbdL net.Listener) error {
	srv := nbd.NewServer(e.log.With("component", "nbd"))
	if err := srv.AddExport(ExportName, e.raid, nbd.ExportOptions{Description: e.name}); err != nil {
		return err
	}
	rpc := jsonrpc.NewServer(e.log.With("component", "jsonrpc"))
	e.Register(rpc)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errs <- rpc.Serve(ctx, ctlL) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if !e.standby {
			if err := e.Activate(ctx, ModeCrash); err != nil {
				errs <- err
				return
			}
		}
		wg.Add(2)
		go func() { defer wg.Done(); errs <- srv.Serve(ctx, nbdL) }()
		go func() { defer wg.Done(); e.probe(ctx, ProbeInterval) }()
	}()
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	cancel()
	srv.Close()
	wg.Wait()
	return errors.Join(first, e.Close())
}
