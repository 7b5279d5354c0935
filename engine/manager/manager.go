// Package manager is refengine's control plane: a REST/JSON API over HTTP,
// desired and observed state in bbolt with a gap-free change stream, and the
// controllers that drive nodes' instance managers toward the desired state.
package manager

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/credential"
)

// Version is the manager's version string, reported by GET /v1/version.
const Version = "0.1.0"

// Config configures a Manager.
type Config struct {
	// DataDir holds manager.db and the backing image files.
	DataDir string
	// NodeTimeout is how long a node may miss heartbeats before it is down.
	NodeTimeout time.Duration
	// ResyncInterval re-queues every volume periodically; MonitorInterval
	// re-queues attached volumes to poll their engines.
	ResyncInterval  time.Duration
	MonitorInterval time.Duration
	// OverProvisioningPercent bounds the sum of replica sizes scheduled on a
	// disk, as a percentage of its total bytes (lvols are thin).
	OverProvisioningPercent int
	// EventRetention is how many events the store keeps (0 = default).
	EventRetention uint64
	// Agents reaches nodes' instance managers; nil means
	// NewRPCDialer(Credential).
	Agents AgentDialer
	// Defects are the defect switches turned on (see DESIGN.md).
	Defects []string
	// BackupTargetURL is the URL the "default" backup target gets when the
	// manager starts without one; empty means file://<DataDir>/backupstore,
	// a directory the manager creates.
	BackupTargetURL string
	// RestoreRateLimit caps the bytes per second each replica restore
	// writes (0: no limit). Tests slow restores down to fault them midway.
	RestoreRateLimit int64
	// URL is the manager's own base URL, handed to nodes for downloads.
	URL    string
	Logger *slog.Logger
	// Credential is the cluster secret: the manager proves it to nodes
	// over TCP. Zero when the cluster has none.
	Credential credential.Token
	// EngineImageDirs are the directories engine image binaries may be
	// registered from (default DefaultEngineImageDir); BackingImageDirs
	// those backing images may be created from by path (default
	// <DataDir>/import, created). Links are resolved before the check.
	EngineImageDirs  []string
	BackingImageDirs []string
	// APIToken is an operator's bearer token for the REST API (refengine
	// manager --api-token-file), with full access like
	// Credential.AdminAPIToken(). With neither set the API is open.
	APIToken credential.Token
}

func (c *Config) setDefaults() {
	if c.NodeTimeout <= 0 {
		c.NodeTimeout = 5 * time.Second
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 30 * time.Second
	}
	if c.MonitorInterval <= 0 {
		c.MonitorInterval = time.Second
	}
	if c.OverProvisioningPercent <= 0 {
		c.OverProvisioningPercent = 200
	}
	if c.Agents == nil {
		c.Agents = NewRPCDialer(c.Credential)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.EngineImageDirs) == 0 {
		c.EngineImageDirs = []string{DefaultEngineImageDir}
	}
	if len(c.BackingImageDirs) == 0 && c.DataDir != "" {
		c.BackingImageDirs = []string{importDir(c.DataDir)}
	}
}

// Manager ties the store, the API and the controllers together.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	store *Store
	beats *heartbeats
	ctrl  *Controller
	// biMu serialises backing image creation so two uploads of one name
	// cannot race on the file.
	biMu sync.Mutex
}

// Open opens the manager's state in cfg.DataDir.
func Open(cfg Config) (*Manager, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("open manager: data dir is required")
	}
	for _, dir := range []string{filepath.Join(cfg.DataDir, "backingimages"), importDir(cfg.DataDir)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open manager: %w", err)
		}
	}
	st, err := OpenStore(filepath.Join(cfg.DataDir, "manager.db"))
	if err != nil {
		return nil, err
	}
	if cfg.EventRetention > 0 {
		st.retention = cfg.EventRetention
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, store: st, beats: newHeartbeats()}
	m.ctrl = newController(m)
	st.OnCommit(m.ctrl.onEvents)
	if err := m.ensureDefaultBackupTarget(); err != nil {
		st.Close()
		return nil, fmt.Errorf("open manager: %w", err)
	}
	return m, nil
}

// Store exposes the state store (for tests and tools in this module).
func (m *Manager) Store() *Store { return m.store }

// Run runs the controllers until ctx is done.
func (m *Manager) Run(ctx context.Context) error { return m.ctrl.Run(ctx) }

// Close closes the store and any agent connections.
func (m *Manager) Close() error {
	if c, ok := m.cfg.Agents.(interface{ Close() error }); ok {
		c.Close()
	}
	return m.store.Close()
}

// backingImagePath is where the manager keeps its verified copy of an image.
func (m *Manager) backingImagePath(name string) string {
	return filepath.Join(m.cfg.DataDir, "backingimages", name+".img")
}

// heartbeats remembers when each node last called in. It lives in memory:
// persisting every heartbeat would flood the change stream.
type heartbeats struct {
	mu    sync.Mutex
	start time.Time
	last  map[string]time.Time
}

func newHeartbeats() *heartbeats {
	return &heartbeats{start: time.Now(), last: map[string]time.Time{}}
}

func (h *heartbeats) beat(node string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last[node] = t
}

// lastSeen returns the last heartbeat of node, or the manager's start time
// when none arrived since the start: a restarted manager grants every node
// one full timeout before declaring it down.
func (h *heartbeats) lastSeen(node string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.last[node]; ok {
		return t
	}
	return h.start
}

func (h *heartbeats) forget(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.last, node)
}

// usesDefect reports whether the named defect switch is on.
func (m *Manager) usesDefect(name string) bool {
	for _, d := range m.cfg.Defects {
		if d == name {
			return true
		}
	}
	return false
}
