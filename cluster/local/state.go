package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline/faultline/cluster"
)

// StateFile is the name of the state file inside the run directory.
const StateFile = "cluster.json"

// State is what cluster.json holds: enough for another faultline process to
// find the cluster, report on it and tear it down.
type State struct {
	Driver     string            `json:"driver"`
	Dir        string            `json:"dir"`
	Up         bool              `json:"up"`
	Refengine  string            `json:"refengine"`
	Defects    []string          `json:"defects,omitempty"`
	ManagerURL string            `json:"managerURL"`
	Nodes      []cluster.Node    `json:"nodes"`
	PIDs       map[string]int    `json:"pids"` // process name → current pid (0 when stopped)
	Stopped    map[string]bool   `json:"stopped,omitempty"`
	Logs       map[string]string `json:"logs"`
	// Supervisor is the pid of the detached `faultline cluster supervise`
	// process when the cluster outlives the command that started it, and
	// Control its control socket.
	Supervisor int       `json:"supervisor,omitempty"`
	Control    string    `json:"control,omitempty"`
	Updated    time.Time `json:"updated"`
}

// ReadState loads <dir>/cluster.json.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return s, fmt.Errorf("read cluster state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("parse %s: %w", filepath.Join(dir, StateFile), err)
	}
	if s.Driver != "local" {
		return s, fmt.Errorf("parse %s: driver %q is not local", filepath.Join(dir, StateFile), s.Driver)
	}
	return s, nil
}

// state builds the current State.
func (d *Driver) state() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := State{Driver: "local", Dir: d.cfg.Dir, Up: d.up, Refengine: d.cfg.Refengine, Defects: d.cfg.Defects,
		ManagerURL: d.mgrURL, Nodes: d.nodes, PIDs: map[string]int{}, Stopped: map[string]bool{},
		Logs: map[string]string{}, Updated: time.Now().UTC()}
	for name, p := range d.procs {
		pid, running, stopped, _, _ := p.snapshot()
		if running {
			s.PIDs[name] = pid
		}
		if stopped && d.up {
			s.Stopped[name] = true
		}
		s.Logs[name] = p.logPath
	}
	return s
}

// saveState writes cluster.json atomically (temp file, fsync, rename).
func (d *Driver) saveState() error {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	s := d.state()
	d.mu.Lock()
	s.Supervisor, s.Control = d.supervisor, d.control
	d.mu.Unlock()
	return writeState(d.cfg.Dir, s)
}

// persist saves the state after a (re)start; a failure is logged, not fatal.
func (d *Driver) persist() {
	if err := d.saveState(); err != nil {
		d.log.Warn("save cluster state", "err", err)
	}
}

// WriteState writes s to <dir>/cluster.json atomically.
func writeState(dir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".cluster-*.json")
	if err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}

// tailFile returns the last n lines of path. Logs are small enough to read
// whole; a 4 MiB cap keeps a runaway log from eating memory.
func tailFile(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("log tail: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("log tail: %w", err)
	}
	const maxRead = 4 << 20
	off := max(st.Size()-maxRead, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return "", fmt.Errorf("log tail %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n"), nil
}

// RemoveDisks deletes the nodes' disk files of a cluster that is down, to
// keep the disk space of passed runs; logs and cluster.json stay.
func (d *Driver) RemoveDisks() error {
	d.mu.Lock()
	up := d.up
	d.mu.Unlock()
	if up {
		return errors.New("local cluster: remove disks: cluster is up")
	}
	disks, err := filepath.Glob(filepath.Join(d.cfg.Dir, "nodes", "*", "disk*.img"))
	if err != nil {
		return fmt.Errorf("remove disks: %w", err)
	}
	var errs []error
	for _, p := range disks {
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
