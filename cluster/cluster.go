// Package cluster abstracts the environment a scenario runs in: which nodes
// exist, where the manager listens, and how to stop, start and restart the
// processes that faults target. Scenarios and faults see only Driver, so the
// same suites run on the embedded local cluster and on kind.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUnknownNode is returned for a node name the cluster does not have.
var ErrUnknownNode = errors.New("unknown node")

// Node describes one storage node and how to reach it.
type Node struct {
	Name    string `json:"name"`
	Address string `json:"address"` // host the node's listeners bind to (127.0.0.N locally)
	RPC     string `json:"rpc"`     // JSON-RPC TCP address (host:port)
	Socket  string `json:"socket"`  // JSON-RPC Unix socket path, when there is one
	NBD     string `json:"nbd"`     // NBD listener (host:port)
}

// ProcessStatus is what a driver knows about one process it runs.
type ProcessStatus struct {
	Name      string    `json:"name"`
	PID       int       `json:"pid,omitempty"`
	Running   bool      `json:"running"`
	Ready     bool      `json:"ready"`
	Stopped   bool      `json:"stopped"` // stopped on purpose: nothing restarts it
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	Log       string    `json:"log,omitempty"`
}

// Status is a snapshot of the whole cluster.
type Status struct {
	Driver     string          `json:"driver"`
	Dir        string          `json:"dir,omitempty"`
	ManagerURL string          `json:"managerURL"`
	Manager    ProcessStatus   `json:"manager"`
	Nodes      []ProcessStatus `json:"nodes"`
	// S3Endpoints are the S3 servers started through S3Endpoints, by name.
	S3Endpoints []ProcessStatus `json:"s3Endpoints,omitempty"`
}

// Node returns the status of the named node.
func (s Status) Node(name string) (ProcessStatus, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return ProcessStatus{}, false
}

// Driver is an environment that runs refengine.
type Driver interface {
	// Up starts the cluster and returns once the manager and every node
	// answer. Down stops every process it started.
	Up(ctx context.Context) error
	Down(ctx context.Context) error

	Nodes() []Node
	ManagerURL() string

	// StopNode kills every process of the node (SIGKILL or the
	// environment's equivalent); nothing restarts it until StartNode.
	StopNode(ctx context.Context, name string) error
	// StartNode starts a stopped node and returns once it answers.
	StartNode(ctx context.Context, name string) error
	// DeleteInstanceManager kills the node's instance manager the way a
	// pod deletion would; the supervisor brings a new one up. It returns
	// once the old process is gone, not when the new one is ready.
	DeleteInstanceManager(ctx context.Context, name string) error

	// Logs maps each process name to its log file.
	Logs(ctx context.Context) (map[string]string, error)
	// LogTail returns the last n lines of a process's log.
	LogTail(process string, n int) (string, error)
	Status(ctx context.Context) (Status, error)
}

// WaitNodeReady polls d.Status until the node is running and ready, or ctx
// ends. Faults use it to heal an instance-manager deletion.
func WaitNodeReady(ctx context.Context, d Driver, name string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last ProcessStatus
	for {
		st, err := d.Status(ctx)
		if err == nil {
			n, ok := st.Node(name)
			if !ok {
				return fmt.Errorf("wait for node %s: %w", name, ErrUnknownNode)
			}
			last = n
			if n.Running && n.Ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not ready (running=%t ready=%t stopped=%t): %w",
				name, last.Running, last.Ready, last.Stopped, ctx.Err())
		case <-tick.C:
		}
	}
}

// EngineImages places an engine image's binary where every node can execute it, the way the
// environment deploys engine images (a copy of the refengine binary locally; a DaemonSet per
// image on Kubernetes, as Longhorn does). Scenarios that register engine images use it when the
// driver implements it.
type EngineImages interface {
	// InstallEngineImage returns the path nodes execute the image's binary from.
	InstallEngineImage(ctx context.Context, name string) (binaryPath string, err error)
	// RemoveEngineImage undoes InstallEngineImage's deployment (binaries in use may stay).
	RemoveEngineImage(ctx context.Context, name string) error
}

// EngineKill is what a crash of an engine during its live upgrade did.
type EngineKill struct {
	PID int `json:"pid"`
	// InWindow: the kill hit the upgrade's window (the new engine process
	// had started and the old one, the one killed, still served).
	InWindow bool `json:"inWindow"`
	// Waited is how long the watch took, from arming to the kill.
	Waited time.Duration `json:"waited"`
	// Executor is what killed it (see Execution.Executor), and At when.
	Executor string    `json:"executor,omitempty"`
	At       time.Time `json:"at,omitzero"`
}
