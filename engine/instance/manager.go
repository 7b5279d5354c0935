// Package instance is a node's instance manager: it makes replicas (lvols
// exported over NBD) and engines (child processes running a raid1 over the
// replicas, behind a frontend export the node serves) on the manager's
// request, and keeps the manager informed with heartbeats. It speaks the
// im_* methods of package improto on the node's JSON-RPC server.
package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/engine/srcaddr"
)

// Defect switches this package honours (DESIGN.md "Defect switches").
const (
	DefectStaleHeadCache   = "im-restart-stale-head-cache"
	DefectBIParentFullName = "rebuild-bi-parent-by-full-name"
)

// Target is the node's storage target as the instance manager uses it:
// in-process JSON-RPC calls and the NBD server that serves the exports.
// *target.Target implements it.
type Target interface {
	Call(ctx context.Context, method string, params any, result any) error
	NBD() *nbd.Server
	// Bdev returns a bdev's device by name or alias (to fill backing images).
	Bdev(name string) (bdev.Device, bool)
}

// Options configure a Manager.
type Options struct {
	// Node is the node's name, as registered with the manager.
	Node   string
	Target Target
	// Address is the host workloads reach the node at (endpoints).
	Address string
	// RPCAddress is the node's JSON-RPC address for heartbeats,
	// "unix:/path" or "tcp:host:port".
	RPCAddress string
	// NBDAddress is host:port of the node's NBD server.
	NBDAddress string
	// ManagerURL is the manager's base URL; empty disables heartbeats. A
	// managed node also prepares its disks: Start gives every disk without
	// an lvstore one.
	ManagerURL string
	// Heartbeat is the heartbeat period (default 1s).
	Heartbeat time.Duration
	// DataDir holds the engines' sockets.
	DataDir string
	// EngineBinary runs engines whose request names no image (default:
	// this process's executable).
	EngineBinary string
	// SourceAddress is the IP the node's outgoing TCP connections (to the
	// manager, to peers, and its engines' to replicas) leave from; "" lets
	// the kernel choose. See package srcaddr.
	SourceAddress string
	// Credential is the cluster secret the node proves to its peers and
	// derives replica export keys from; zero when the node has none.
	Credential credential.Token
	// EngineCPUs, when above 0, is the GOMAXPROCS of the engine processes
	// the node starts: an engine serves its volume's I/O with the node's
	// core budget, as Longhorn's v2 engines run on the reactors of the
	// instance manager's SPDK target. The environment carries it, so an
	// older engine image runs with it too.
	EngineCPUs int
	Defects    []string
	Log        *slog.Logger
}

// Manager is a node's instance manager.
type Manager struct {
	opts    Options
	log     *slog.Logger
	t       Target
	mc      *client.Client // nil without a manager URL
	defects map[string]bool
	// chance draws in [0, 1) for the intermittent defect switches.
	chance func() float64
	peers  *peers
	// jobs are the backups and restores running in the background.
	jobs *jobs

	// repMu serialises replica creation and deletion.
	repMu sync.Mutex

	mu       sync.Mutex
	replicas map[string]*replica
	engines  map[string]*engine
	seq      int
	closed   bool
	// sockDir holds engine sockets; tmpSockDir says Close removes it.
	sockDir    string
	tmpSockDir bool
	wg         sync.WaitGroup
	cancel     context.CancelFunc
}

// New returns a Manager; Start makes it work.
func New(opts Options) (*Manager, error) {
	if opts.Node == "" || opts.Target == nil || opts.DataDir == "" {
		return nil, errors.New("instance manager: node name, target and data dir are required")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = time.Second
	}
	if opts.EngineBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("instance manager: find own executable: %w", err)
		}
		opts.EngineBinary = exe
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		opts: opts, log: log.With("component", "instance"), t: opts.Target,
		defects:  map[string]bool{},
		chance:   rand.Float64,
		replicas: map[string]*replica{},
		engines:  map[string]*engine{},
		jobs:     newJobs(),
	}
	for _, d := range opts.Defects {
		m.defects[d] = true
	}
	if opts.ManagerURL != "" {
		hc, err := managerHTTP(opts.SourceAddress)
		if err != nil {
			return nil, fmt.Errorf("instance manager: %w", err)
		}
		c, err := client.New(opts.ManagerURL, hc)
		if err != nil {
			return nil, fmt.Errorf("instance manager: %w", err)
		}
		if !opts.Credential.IsZero() {
			c.SetNodeToken(opts.Node, opts.Credential.NodeAPIToken(opts.Node))
		}
		m.mc = c
	}
	m.peers = newPeers(m)
	return m, nil
}

// Start prepares the disks (an lvstore on each), collects what interrupted
// rebuilds and deletions left, reconstructs replicas from what is on disk,
// and starts the heartbeat loop, which runs until Close.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.makeEngineDir(); err != nil {
		return fmt.Errorf("instance manager: %w", err)
	}
	if m.mc != nil {
		if err := m.ensureLvstores(ctx); err != nil {
			return err
		}
	}
	if err := m.collectLeftovers(ctx); err != nil {
		return err
	}
	if err := m.reconstruct(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.mu.Lock()
	m.cancel = cancel
	m.mu.Unlock()
	if m.mc != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.heartbeatLoop(ctx)
		}()
	}
	return nil
}

// Close stops the heartbeats, the backup and restore jobs (an interrupted
// restore leaves its scratch lvol for the next start to collect) and every
// engine process (the replicas stay on disk).
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	cancel := m.cancel
	engines := make([]*engine, 0, len(m.engines))
	for _, e := range m.engines {
		engines = append(engines, e)
	}
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.jobs.close()
	var errs []error
	for _, e := range engines {
		errs = append(errs, m.stopEngine(e))
	}
	m.wg.Wait()
	m.peers.close()
	if m.tmpSockDir {
		os.RemoveAll(m.sockDir)
	}
	return errors.Join(errs...)
}

func (m *Manager) defect(name string) bool { return m.defects[name] }

// managerHTTP returns the HTTP client for the manager: the default one,
// dialling from source when there is one.
func managerHTTP(source string) (*http.Client, error) {
	if source == "" {
		return nil, nil
	}
	d, err := srcaddr.Dialer(source, "tcp")
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	return &http.Client{Transport: t}, nil
}
