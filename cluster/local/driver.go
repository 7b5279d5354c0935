// Package local runs a refengine cluster as real OS processes on this
// machine: one `refengine manager` on 127.0.0.1 and one `refengine node` per
// node on 127.0.0.(N+1), each with its own disk file under the run
// directory. A supervisor restarts a node process that exits unless the node
// was stopped on purpose, as a DaemonSet would restart an instance-manager
// pod: a deleted one (DeleteInstanceManager) at once, a crashed one with
// CrashLoopBackOff-like exponential backoff.
//
// Layout of the run directory:
//
//	cluster.json                 state: addresses, pids (see State)
//	logs/<process>.log           stdout and stderr of each process
//	manager/                     the manager's data directory
//	nodes/<node>/                a node's data directory and its disks,
//	                             disk0.img, disk1.img, ... (DisksPerNode)
//	s3/<endpoint>/               an S3 endpoint's POSIX root (StartS3Endpoint)
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/srcaddr"
	"github.com/faultline/faultline/timeline"
)

// Config describes a local cluster.
type Config struct {
	Dir       string // run directory (created)
	Refengine string // path of the refengine binary; FindRefengine when empty
	Nodes     int    // default 3
	DiskSize  int64  // bytes per node disk, default 1 GiB (sparse)
	// DisksPerNode is how many disks each node serves, disk0 to
	// disk<N-1>, each of DiskSize and with its own lvstore; default 1.
	// One SPDK server with several disks holds per-disk copies of every
	// backing image under per-lvstore names: only a node with two disks
	// can rebuild a replica from one of its disks onto another.
	DisksPerNode int
	Defects      []string
	// NodeTimeout is passed to the manager as --node-timeout when set.
	NodeTimeout time.Duration
	// RestoreRateLimit, when positive, is passed to the manager as
	// --restore-rate-limit: the bytes per second each replica restore
	// writes, so that a restore lasts long enough to be faulted midway. A
	// refengine without the flag runs unlimited (and the driver logs it).
	RestoreRateLimit int64
	// ReadyTimeout bounds Up and StartNode; default 30s.
	ReadyTimeout time.Duration
	// MinBackoff and MaxBackoff bound the supervisor's delay before
	// restarting a process that crashed (not one that was deleted);
	// defaults 200ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// StablePorts reuses the manager and node ports of the previous run in
	// Dir (its cluster.json), so that a cluster brought up again by hand
	// keeps the URLs its user knows; Up fails, naming the port, when one
	// of them is taken. Nodes the previous run did not have get free ports.
	StablePorts bool
	// KeepProcesses lets the processes outlive this one (--keep-cluster);
	// otherwise the kernel kills them when it exits (Pdeathsig).
	KeepProcesses bool
	Timeline      *timeline.Recorder // restarts are recorded here; one is made when nil
	Logger        *slog.Logger
}

// Driver is the local cluster. It implements cluster.Driver.
type Driver struct {
	cfg      Config
	features Features
	log      *slog.Logger
	rec      *timeline.Recorder
	sockDir  string // short directory for Unix sockets when Dir is too deep

	mu      sync.Mutex
	up      bool
	ctx     context.Context // parent of every supervision loop
	cancel  context.CancelFunc
	mgr     *process
	mgrURL  string
	nodes   []cluster.Node
	procs   map[string]*process // by process name: "manager" and node names
	stateMu sync.Mutex

	supervisor int    // pid of a detached supervisor process, for cluster.json
	control    string // its control socket

	s3                 map[string]*s3Endpoint // S3 endpoints by name (StartS3Endpoint)
	s3Access, s3Secret string                 // the cluster's S3 credentials, made with the first endpoint

	// credential is the cluster secret in Dir/cluster.token, made by the
	// first Up on a directory and kept by later ones; zero when the binary
	// predates --cluster-token-file.
	credential credential.Token
}

var _ cluster.Driver = (*Driver)(nil)

// New checks cfg and prepares a driver; Up starts the processes.
func New(cfg Config) (*Driver, error) {
	if cfg.Dir == "" {
		return nil, errors.New("local cluster: run directory is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("local cluster: %w", err)
	}
	cfg.Dir = dir
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Nodes < 1 || cfg.Nodes > 200 {
		return nil, fmt.Errorf("local cluster: node count %d out of range 1..200", cfg.Nodes)
	}
	if cfg.DiskSize == 0 {
		cfg.DiskSize = 1 << 30
	}
	if cfg.DisksPerNode == 0 {
		cfg.DisksPerNode = 1
	}
	if cfg.DisksPerNode < 1 || cfg.DisksPerNode > maxDisksPerNode {
		return nil, fmt.Errorf("local cluster: %d disks per node out of range 1..%d", cfg.DisksPerNode, maxDisksPerNode)
	}
	if cfg.DiskSize < 0 || cfg.DiskSize%(1<<20) != 0 {
		return nil, fmt.Errorf("local cluster: disk size %d is not a positive multiple of 1 MiB", cfg.DiskSize)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Refengine == "" {
		if cfg.Refengine, err = FindRefengine(); err != nil {
			return nil, err
		}
	}
	if cfg.Refengine, err = filepath.Abs(cfg.Refengine); err != nil {
		return nil, fmt.Errorf("local cluster: %w", err)
	}
	d := &Driver{cfg: cfg, log: cfg.Logger, rec: cfg.Timeline}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.rec == nil {
		d.rec = timeline.NewRecorder()
	}
	return d, nil
}

// SetSupervisor records, in cluster.json, the detached process that runs
// this driver and the control socket it serves (see Serve).
func (d *Driver) SetSupervisor(pid int, control string) error {
	d.mu.Lock()
	d.supervisor, d.control = pid, control
	d.mu.Unlock()
	return d.saveState()
}

// Detach leaves the processes running unsupervised, for a later
// `faultline cluster down --dir`. Only useful with KeepProcesses.
func (d *Driver) Detach() error {
	d.mu.Lock()
	keep := d.cfg.KeepProcesses
	d.mu.Unlock()
	if !keep {
		return errors.New("local cluster: cannot detach: processes die with this one (KeepProcesses is off)")
	}
	return d.SetSupervisor(0, "")
}

// Timeline returns the recorder that holds process exits and restarts.
func (d *Driver) Timeline() *timeline.Recorder { return d.rec }

// Dir returns the run directory.
func (d *Driver) Dir() string { return d.cfg.Dir }

// Up starts the manager and the nodes and waits until all answer. On error
// every process already started is stopped again.
func (d *Driver) Up(ctx context.Context) (err error) {
	d.mu.Lock()
	if d.up {
		d.mu.Unlock()
		return errors.New("local cluster: already up")
	}
	d.up = true
	d.mu.Unlock()
	defer func() {
		if err != nil {
			d.Down(context.Background())
		}
	}()
	if d.features, err = Probe(ctx, d.cfg.Refengine); err != nil {
		return err
	}
	if err := removePartitions(ctx, d.cfg.Dir); err != nil {
		return err
	}
	for _, sub := range []string{"logs", "manager", "nodes"} {
		if err := os.MkdirAll(filepath.Join(d.cfg.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("local cluster: %w", err)
		}
	}
	if d.features.ClusterToken {
		if d.credential, err = credential.LoadOrCreate(d.credentialPath()); err != nil {
			return fmt.Errorf("local cluster: %w", err)
		}
	}
	if err := d.plan(); err != nil {
		return err
	}
	d.mu.Lock()
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, d.cfg.ReadyTimeout)
	defer cancel()
	if err := d.mgr.start(d.ctx, d.cfg.Refengine, d.backoff(), d.rec); err != nil {
		return err
	}
	if err := waitReady(ctx, d.mgr); err != nil {
		return fmt.Errorf("manager not ready: %w (log %s)", err, d.mgr.logPath)
	}
	for _, n := range d.nodes {
		if err := d.procs[n.Name].start(d.ctx, d.cfg.Refengine, d.backoff(), d.rec); err != nil {
			return err
		}
	}
	for _, n := range d.nodes {
		p := d.procs[n.Name]
		if err := waitReady(ctx, p); err != nil {
			return fmt.Errorf("node %s not ready: %w (log %s)", n.Name, err, p.logPath)
		}
	}
	d.log.Info("local cluster up", "dir", d.cfg.Dir, "manager", d.mgrURL, "nodes", len(d.nodes))
	return d.saveState()
}

// credentialPath is where the cluster secret lives (mode 0600).
func (d *Driver) credentialPath() string { return filepath.Join(d.cfg.Dir, "cluster.token") }

// Credential is the cluster secret the manager and nodes were given; the
// zero Token when the refengine binary has no --cluster-token-file.
func (d *Driver) Credential() credential.Token { return d.credential }

func (d *Driver) backoff() backoff { return backoff{d.cfg.MinBackoff, d.cfg.MaxBackoff} }

// plan picks addresses and ports and builds each process's command line.
func (d *Driver) plan() error {
	prev, err := d.previousPorts()
	if err != nil {
		return err
	}
	port, err := prev.pick("manager", "127.0.0.1", prev.manager)
	if err != nil {
		return err
	}
	d.mgrURL = "http://127.0.0.1:" + strconv.Itoa(port)
	var env []string
	if len(d.cfg.Defects) > 0 {
		env = append(env, "REFENGINE_DEFECTS="+strings.Join(d.cfg.Defects, ","))
	}
	margs := []string{"manager", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--data-dir", filepath.Join(d.cfg.Dir, "manager")}
	if d.cfg.NodeTimeout > 0 {
		margs = append(margs, "--node-timeout", d.cfg.NodeTimeout.String())
	}
	if d.cfg.RestoreRateLimit > 0 {
		if d.features.ManagerRestoreRateLimit {
			margs = append(margs, "--restore-rate-limit", strconv.FormatInt(d.cfg.RestoreRateLimit, 10))
		} else {
			d.log.Warn("refengine manager has no --restore-rate-limit; restores run unlimited", "refengine", d.cfg.Refengine)
		}
	}
	if len(d.cfg.Defects) > 0 && d.features.ManagerDefects {
		margs = append(margs, "--defects", strings.Join(d.cfg.Defects, ","))
	}
	if !d.credential.IsZero() {
		margs = append(margs, "--cluster-token-file", d.credentialPath())
	}
	if d.features.ManagerEngineImageDir {
		// Where InstallEngineImage puts the engine images' binaries.
		margs = append(margs, "--engine-image-dir", filepath.Join(d.cfg.Dir, "engine-images"))
	}
	d.procs = map[string]*process{}
	d.mgr = &process{keep: d.cfg.KeepProcesses, name: "manager", args: margs, env: env, logPath: d.logPath("manager"), onStarted: d.persist}
	url := d.mgrURL
	d.mgr.ready = func(ctx context.Context) error { return managerReady(ctx, url) }
	d.procs["manager"] = d.mgr

	sockRoot := filepath.Join(d.cfg.Dir, "nodes")
	if len(sockRoot) > 60 { // sun_path holds 108 bytes; keep well clear
		if d.sockDir, err = os.MkdirTemp("", "faultline-sock-"); err != nil {
			return fmt.Errorf("local cluster: socket directory: %w", err)
		}
		sockRoot = d.sockDir
	}
	d.nodes = nil
	for i := 1; i <= d.cfg.Nodes; i++ {
		name := "node-" + strconv.Itoa(i)
		host := fmt.Sprintf("127.0.0.%d", i+1)
		old := prev.nodes[name]
		if old.Address != host {
			old = cluster.Node{}
		}
		rpcPort, err := prev.pick(name+" rpc", host, portOf(old.RPC))
		if err != nil {
			return err
		}
		nbdPort, err := prev.pick(name+" nbd", host, portOf(old.NBD))
		if err != nil {
			return err
		}
		dataDir := filepath.Join(d.cfg.Dir, "nodes", name)
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return fmt.Errorf("local cluster: %w", err)
		}
		n := cluster.Node{
			Name:    name,
			Address: host,
			RPC:     net2(host, rpcPort),
			NBD:     net2(host, nbdPort),
			Socket:  filepath.Join(sockRoot, name+".sock"),
		}
		args := []string{"node", "--name", name, "--data-dir", dataDir,
			"--rpc-socket", n.Socket, "--rpc-listen", n.RPC, "--nbd-listen", n.NBD}
		args = append(args, diskArgs(dataDir, d.cfg.DisksPerNode, d.cfg.DiskSize)...)
		if d.features.NodeManagerFlag {
			args = append(args, "--manager", d.mgrURL)
		}
		// Always on: unarmed it is a pass-through that costs no measurable
		// time (BenchmarkPassThrough), and faults need no special cluster.
		if d.features.NodeDiskErrors {
			args = append(args, "--disk-error-injection")
		}
		if len(d.cfg.Defects) > 0 && d.features.NodeDefects {
			args = append(args, "--defects", strings.Join(d.cfg.Defects, ","))
		}
		if !d.credential.IsZero() {
			args = append(args, "--cluster-token-file", d.credentialPath())
		}
		// The node and its engines dial from the node's address, so that
		// partitions can tell its packets from other nodes' (partition.go).
		nodeEnv := append(slices.Clone(env), srcaddr.Env+"="+host)
		p := &process{keep: d.cfg.KeepProcesses, name: name, args: args, env: nodeEnv, logPath: d.logPath(name), onStarted: d.persist}
		sock := n.Socket
		p.ready = func(ctx context.Context) error { return nodeReady(ctx, sock) }
		d.procs[name] = p
		d.nodes = append(d.nodes, n)
	}
	return nil
}

// maxDisksPerNode bounds Config.DisksPerNode: enough for any placement a
// scenario needs, few enough that a typo does not make 200 disk files.
const maxDisksPerNode = 8

// diskArgs are a node's --disk flags: disk0 to disk<n-1>, each a sparse
// file of size bytes in the node's data directory.
func diskArgs(dataDir string, n int, size int64) []string {
	var out []string
	for i := range n {
		name := "disk" + strconv.Itoa(i)
		out = append(out, "--disk", name+"="+filepath.Join(dataDir, name+".img")+":"+strconv.FormatInt(size, 10))
	}
	return out
}

func net2(host string, port int) string { return host + ":" + strconv.Itoa(port) }

func (d *Driver) logPath(process string) string {
	return filepath.Join(d.cfg.Dir, "logs", process+".log")
}

// waitReady polls p's readiness probe until it answers or ctx ends. A
// process that is not running is not ready.
func waitReady(ctx context.Context, p *process) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if _, running, stopped, _, _ := p.snapshot(); stopped {
			return fmt.Errorf("%s was stopped", p.name)
		} else if running {
			if last = p.ready(ctx); last == nil {
				return nil
			}
		} else {
			last = errors.New("process not running")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Down stops every process (SIGTERM, then SIGKILL after a grace period) and
// waits until they are gone. It also removes the cluster's network
// partitions, including those a crashed run in the same directory left.
func (d *Driver) Down(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, removePartitions(ctx, d.cfg.Dir)) }()
	d.mu.Lock()
	if !d.up {
		d.mu.Unlock()
		return nil
	}
	d.up = false
	cancel := d.cancel
	procs := make([]*process, 0, len(d.procs))
	for _, n := range d.nodes {
		if p := d.procs[n.Name]; p != nil {
			procs = append(procs, p)
		}
	}
	if d.mgr != nil {
		procs = append(procs, d.mgr)
	}
	for _, e := range d.s3 {
		procs = append(procs, e.proc)
	}
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.halt(ctx, syscall.SIGTERM)
		}()
	}
	wg.Wait()
	if d.sockDir != "" {
		os.RemoveAll(d.sockDir)
	}
	d.log.Info("local cluster down", "dir", d.cfg.Dir)
	return d.saveState()
}

// Nodes returns the cluster's nodes.
func (d *Driver) Nodes() []cluster.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]cluster.Node(nil), d.nodes...)
}

// ManagerURL returns the manager's base URL.
func (d *Driver) ManagerURL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mgrURL
}

func (d *Driver) node(name string) (*process, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.up {
		return nil, errors.New("local cluster is not up")
	}
	for _, n := range d.nodes {
		if n.Name == name {
			return d.procs[name], nil
		}
	}
	return nil, fmt.Errorf("node %q: %w", name, cluster.ErrUnknownNode)
}

// StopNode SIGKILLs the node's process group and the node's S3 endpoints
// and keeps them down.
func (d *Driver) StopNode(ctx context.Context, name string) error {
	p, err := d.node(name)
	if err != nil {
		return err
	}
	procs := append([]*process{p}, d.nodeEndpoints(name)...)
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.halt(ctx, syscall.SIGKILL)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop node %s: %w", name, err)
	}
	executed(ctx, "supervisor")
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: name, Name: "stopped"})
	return d.saveState()
}

// StartNode starts a stopped node and its S3 endpoints and waits until
// they answer.
func (d *Driver) StartNode(ctx context.Context, name string) error {
	p, err := d.node(name)
	if err != nil {
		return err
	}
	if _, running, stopped, _, _ := p.snapshot(); !stopped {
		if running {
			return d.startNodeEndpoints(ctx, name)
		}
		return fmt.Errorf("start node %s: node is not stopped; its supervisor is restarting it", name)
	}
	d.mu.Lock()
	parent := d.ctx
	d.mu.Unlock()
	if err := p.start(parent, d.cfg.Refengine, d.backoff(), d.rec); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: name, Name: "started"})
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ReadyTimeout)
	defer cancel()
	if err := waitReady(ctx, p); err != nil {
		return fmt.Errorf("start node %s: %w (log %s)", name, err, p.logPath)
	}
	return d.startNodeEndpoints(ctx, name)
}

// DeleteInstanceManager SIGKILLs the node process (and its process group);
// the supervisor starts a new one at once, without the crash backoff, as a
// DaemonSet replaces a deleted pod. It returns once the old one is gone.
func (d *Driver) DeleteInstanceManager(ctx context.Context, name string) error {
	p, err := d.node(name)
	if err != nil {
		return err
	}
	if err := p.kill(ctx); err != nil {
		return fmt.Errorf("delete instance manager of %s: %w", name, err)
	}
	executed(ctx, "supervisor")
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: name, Name: "instance manager deleted"})
	return nil
}

// Logs maps process names to log files.
func (d *Driver) Logs(ctx context.Context) (map[string]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for name, p := range d.procs {
		out[name] = p.logPath
	}
	return out, nil
}

// LogTail returns the last n lines of a process's log.
func (d *Driver) LogTail(process string, n int) (string, error) {
	d.mu.Lock()
	p := d.procs[process]
	d.mu.Unlock()
	if p == nil {
		return "", fmt.Errorf("log tail: unknown process %q", process)
	}
	return tailFile(p.logPath, n)
}

// Status reports every process, probing readiness of the running ones.
func (d *Driver) Status(ctx context.Context) (cluster.Status, error) {
	d.mu.Lock()
	st := cluster.Status{Driver: "local", Dir: d.cfg.Dir, ManagerURL: d.mgrURL}
	mgr := d.mgr
	nodes := make([]*process, 0, len(d.nodes))
	for _, n := range d.nodes {
		nodes = append(nodes, d.procs[n.Name])
	}
	d.mu.Unlock()
	if mgr == nil {
		return st, errors.New("local cluster was never started")
	}
	st.Manager = processStatus(ctx, mgr)
	for _, p := range nodes {
		st.Nodes = append(st.Nodes, processStatus(ctx, p))
	}
	for _, p := range d.endpointProcs() {
		st.S3Endpoints = append(st.S3Endpoints, processStatus(ctx, p))
	}
	return st, nil
}

func processStatus(ctx context.Context, p *process) cluster.ProcessStatus {
	pid, running, stopped, restarts, started := p.snapshot()
	s := cluster.ProcessStatus{Name: p.name, PID: pid, Running: running, Stopped: stopped,
		Restarts: restarts, StartedAt: started, Log: p.logPath}
	if running {
		s.Ready = p.ready(ctx) == nil
	}
	return s
}
