// Package kind runs refengine on a kind (Kubernetes in Docker) cluster: it creates or reuses the
// cluster with sigs.k8s.io/e2e-framework, loads the refengine image, applies the manifests of
// package deploy through the Kubernetes API and waits for them, and does faults to what they are
// on Kubernetes: a node stop is a `docker stop` of the node's container, an instance-manager
// deletion deletes its pod (the DaemonSet brings a new one), an engine crash SIGKILLs the engine
// process inside the instance-manager pod through the API's exec, a pause freezes the node's
// container (`docker pause`), and a manager restart deletes the manager's pod without grace (the
// Deployment brings a new one).
package kind

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/support/kind"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/credential"
	kindconfig "github.com/faultline/faultline/kind-config"
)

// Namespace is where refengine runs.
const Namespace = "refengine-system"

// Ports the node DaemonSet listens on at each node's address (deploy/30-node.yaml).
const (
	nodeRPCPort = 5260
	nodeNBDPort = 10809
	managerPort = 30950 // the manager Service's NodePort, mapped to a loopback port of this host
)

// KindVersion is the kind release the driver runs (installed with go install when missing).
const KindVersion = "v0.33.0"

// Config says which cluster to run and what to run on it.
type Config struct {
	// Name of the kind cluster (default "faultline"). An existing cluster of that name is reused:
	// refengine is deployed afresh on it.
	Name string
	// NodeImage is the kind node image (required), e.g. the one `make kind-node-image` builds.
	NodeImage string
	// KubernetesVersion selects the kind configuration (default v1.34.4); it must match NodeImage.
	KubernetesVersion string
	// RefengineImage is the refengine container image, already built in the local Docker
	// (required; never a :latest tag).
	RefengineImage string
	// DataDir holds, per cluster, the node disks, the manager's state and collected logs
	// (default /var/tmp/faultline-kind). Worker and manager data of cluster NAME are in DataDir/NAME.
	DataDir string
	// LogDir receives pod logs (default DataDir/NAME/logs); the harness points it into the
	// report directory.
	LogDir string
	// DiskSize of every node's disk in bytes (default 1 GiB).
	DiskSize int64
	// DisksPerNode is how many disks each node serves (default 1, at most 8), disk0.img,
	// disk1.img, … in the node's data directory.
	DisksPerNode int
	// Defects turned on in the manager and nodes (proving checkers only).
	Defects []string
	// RestoreRateLimit is the manager's --restore-rate-limit (bytes per second each replica
	// restore writes; 0 = none).
	RestoreRateLimit int64
	// ChaosExecutor says who carries out the faults that are Chaos Mesh objects (the
	// instance-manager deletion, the manager restart): "auto" (default) the Chaos Mesh on the
	// cluster when there is one, else faultline itself; "chaos-mesh" requires it; "native"
	// never uses it.
	ChaosExecutor string
	// Keep leaves the cluster running at Down.
	Keep bool
	// Kind is the kind binary (default: kind on PATH, else installed by e2e-framework).
	Kind string
	Log  *slog.Logger
}

// Driver is a cluster.Driver over a kind cluster.
type Driver struct {
	cfg      Config
	log      *slog.Logger
	provider *kind.Cluster
	rest     *rest.Config
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	res      *resources.Resources

	mu         sync.Mutex
	nodes      []cluster.Node
	managerURL string
	stopped    map[string]bool // nodes whose container this driver stopped
	version    string          // Kubernetes server version
	executor   string          // who carries out Chaos Mesh faults: ExecutorChaosMesh or ExecutorNative
	chaosSeq   atomic.Int64    // numbers the Chaos Mesh objects of this run
	// partitions are the NetworkChaos objects of the partitions in place, by Partition.String.
	partitions map[string]*unstructured.Unstructured
	// cred is the cluster credential of the current deployment, made
	// afresh by each (deploy); zero before the first.
	cred credential.Token
}

var (
	_ cluster.Driver       = (*Driver)(nil)
	_ cluster.Credentialed = (*Driver)(nil)
)

// New checks the configuration; Up does the work.
func New(cfg Config) (*Driver, error) {
	if cfg.Name == "" {
		cfg.Name = "faultline"
	}
	if cfg.KubernetesVersion == "" {
		cfg.KubernetesVersion = "v1.34.4"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "/var/tmp/faultline-kind"
	}
	if cfg.DiskSize == 0 {
		cfg.DiskSize = 1 << 30
	}
	if cfg.LogDir == "" {
		cfg.LogDir = filepath.Join(cfg.DataDir, cfg.Name, "logs")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.NodeImage == "":
		return nil, errors.New("kind: no node image: build one with `make kind-node-image` and pass --kind-node-image (or set FAULTLINE_KIND_IMAGE)")
	case cfg.RefengineImage == "":
		return nil, errors.New("kind: no refengine image: build it with `make images` and pass --refengine-image")
	case strings.HasSuffix(cfg.RefengineImage, ":latest") || !strings.Contains(cfg.RefengineImage, ":"):
		return nil, fmt.Errorf("kind: refengine image %q: tag it with the build's version, never latest (pods never pull it)", cfg.RefengineImage)
	case cfg.ChaosExecutor != "" && cfg.ChaosExecutor != ExecutorAuto && cfg.ChaosExecutor != ExecutorChaosMesh && cfg.ChaosExecutor != ExecutorNative:
		return nil, fmt.Errorf("kind: chaos executor %q: want auto, chaos-mesh or native", cfg.ChaosExecutor)
	case cfg.DisksPerNode < 0 || cfg.DisksPerNode > 8:
		return nil, fmt.Errorf("kind: %d disks per node: want 1..8", cfg.DisksPerNode)
	case cfg.DiskSize%(1<<20) != 0:
		return nil, fmt.Errorf("kind: disk size %d is not a multiple of 1 MiB", cfg.DiskSize)
	}
	if _, err := kindconfig.For(cfg.KubernetesVersion); err != nil {
		return nil, err
	}
	return &Driver{cfg: cfg, log: cfg.Log, stopped: map[string]bool{}, partitions: map[string]*unstructured.Unstructured{}}, nil
}

// Credential is the cluster credential the manager and the nodes of the
// current deployment hold (cluster.CredentialOf): the framework proves it to
// the nodes' TCP JSON-RPC and derives the REST API's bearer token from it.
func (d *Driver) Credential() credential.Token {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cred
}

// newCredential makes the credential of a new deployment.
func (d *Driver) newCredential() error {
	tok, err := credential.Generate()
	if err != nil {
		return fmt.Errorf("kind: %w", err)
	}
	d.mu.Lock()
	d.cred = tok
	d.mu.Unlock()
	return nil
}

// Dir is the host directory of this cluster's data and logs.
func (d *Driver) Dir() string { return filepath.Join(d.cfg.DataDir, d.cfg.Name) }

// KubernetesVersion is the API server's version once Up has run.
func (d *Driver) KubernetesVersion() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// Up creates (or reuses) the cluster, loads the refengine image, deploys refengine and returns
// once the manager answers and every storage node is ready.
func (d *Driver) Up(ctx context.Context) error {
	if err := hostCanRunKind(ctx); err != nil {
		return err
	}
	if err := d.createCluster(ctx); err != nil {
		return err
	}
	if err := d.chooseExecutor(ctx); err != nil {
		return err
	}
	if err := d.deploy(ctx); err != nil {
		return err
	}
	return d.waitUp(ctx)
}

// createCluster creates the kind cluster from the rendered configuration, or finds it, and
// connects the Kubernetes clients.
func (d *Driver) createCluster(ctx context.Context) error {
	dir := d.Dir()
	for _, sub := range hostDirs() {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("kind: %w", err)
		}
	}
	tmpl, err := kindconfig.For(d.cfg.KubernetesVersion)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("kind: pick the manager's host port: %w", err)
	}
	conf := strings.NewReplacer("${DATA}", dir, "${MANAGER_PORT}", strconv.Itoa(port)).Replace(string(tmpl))
	confPath := filepath.Join(dir, "kind-config.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("kind: %w", err)
	}
	p := kind.NewCluster(d.cfg.Name)
	p.WithVersion(KindVersion)
	if d.cfg.Kind != "" {
		p.WithPath(d.cfg.Kind)
	}
	p.WithOpts(kind.WithImage(d.cfg.NodeImage))
	d.provider = p
	start := time.Now()
	kubeconfig, err := p.Create(ctx, "--config", confPath, "--wait", "5m")
	if err != nil {
		return fmt.Errorf("kind: create cluster %s: %w", d.cfg.Name, err)
	}
	d.log.Info("kind cluster ready", "name", d.cfg.Name, "took", time.Since(start).Round(time.Millisecond), "kubeconfig", kubeconfig)
	if err := d.connect(kubeconfig); err != nil {
		return err
	}
	start = time.Now()
	if err := p.LoadImage(ctx, d.cfg.RefengineImage); err != nil {
		return fmt.Errorf("kind: load image %s: %w", d.cfg.RefengineImage, err)
	}
	d.log.Info("refengine image loaded", "image", d.cfg.RefengineImage, "took", time.Since(start).Round(time.Millisecond))
	hostPort, err := mappedPort(ctx, d.cfg.Name+"-control-plane", managerPort)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.managerURL = "http://127.0.0.1:" + strconv.Itoa(hostPort)
	d.mu.Unlock()
	return nil
}

func (d *Driver) connect(kubeconfig string) error {
	c, err := klient.NewWithKubeConfigFile(kubeconfig)
	if err != nil {
		return fmt.Errorf("kind: kubeconfig %s: %w", kubeconfig, err)
	}
	d.rest = c.RESTConfig()
	if d.kube, err = kubernetes.NewForConfig(d.rest); err != nil {
		return fmt.Errorf("kind: %w", err)
	}
	if d.dyn, err = dynamic.NewForConfig(d.rest); err != nil {
		return fmt.Errorf("kind: %w", err)
	}
	if d.res, err = resources.New(d.rest); err != nil {
		return fmt.Errorf("kind: %w", err)
	}
	v, err := d.kube.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("kind: API server version: %w", err)
	}
	d.mu.Lock()
	d.version = v.GitVersion
	d.mu.Unlock()
	return nil
}

// waitUp waits for the manager to answer on its host port and every storage node to be ready.
func (d *Driver) waitUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	nodes, err := d.storageNodes(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.nodes = nodes
	d.mu.Unlock()
	if err := waitHTTP(ctx, d.ManagerURL()+"/v1/version"); err != nil {
		return fmt.Errorf("kind: manager at %s: %w", d.ManagerURL(), err)
	}
	for _, n := range nodes {
		if err := cluster.WaitNodeReady(ctx, d, n.Name); err != nil {
			return fmt.Errorf("kind: %w", err)
		}
	}
	return nil
}

// storageNodes lists the nodes labelled for refengine, with their InternalIP, by name.
func (d *Driver) storageNodes(ctx context.Context) ([]cluster.Node, error) {
	list, err := d.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "refengine.io/storage=true"})
	if err != nil {
		return nil, fmt.Errorf("kind: list storage nodes: %w", err)
	}
	var nodes []cluster.Node
	for _, n := range list.Items {
		ip := internalIP(&n)
		if ip == "" {
			return nil, fmt.Errorf("kind: node %s has no InternalIP", n.Name)
		}
		nodes = append(nodes, cluster.Node{Name: n.Name, Address: ip,
			RPC: net.JoinHostPort(ip, strconv.Itoa(nodeRPCPort)), NBD: net.JoinHostPort(ip, strconv.Itoa(nodeNBDPort))})
	}
	if len(nodes) == 0 {
		return nil, errors.New("kind: no node is labelled refengine.io/storage=true")
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes, nil
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && net.ParseIP(a.Address).To4() != nil {
			return a.Address
		}
	}
	return ""
}

// Down saves the manager's log (every pod's, when the run failed: see SaveLogs) and deletes the
// cluster, unless Config.Keep.
func (d *Driver) Down(ctx context.Context) error {
	if d.kube != nil {
		if _, err := d.saveLogs(ctx, func(p corev1.Pod) bool { return p.Labels["app"] == "refengine-manager" }); err != nil {
			d.log.Warn("save manager log", "err", err)
		}
	}
	if d.cfg.Keep && d.kube != nil {
		if err := d.removePartitions(ctx); err != nil {
			d.log.Warn("remove network partitions", "err", err)
		}
	}
	if d.cfg.Keep || d.provider == nil {
		return nil
	}
	if err := d.provider.Destroy(ctx); err != nil {
		return fmt.Errorf("kind: delete cluster %s: %w", d.cfg.Name, err)
	}
	return nil
}

// hostDirs are the directories under the cluster's directory that kind mounts into its nodes
// (kind-config/): the manager's state, each worker's disk and data directory and engine images,
// and the backup store every node shares (the default file:// backup target, as an NFS export
// would be).
func hostDirs() []string {
	return []string{"manager", "worker1", "worker2", "worker3", "worker1-engine-images", "worker2-engine-images", "worker3-engine-images", "backupstore"}
}

// RemoveDisks deletes the node disks and the manager's state of a deleted cluster (logs stay).
func (d *Driver) RemoveDisks() error {
	for _, sub := range hostDirs() {
		if err := os.RemoveAll(filepath.Join(d.Dir(), sub)); err != nil {
			return fmt.Errorf("kind: %w", err)
		}
	}
	return nil
}

// Nodes are the storage nodes, by name.
func (d *Driver) Nodes() []cluster.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]cluster.Node(nil), d.nodes...)
}

// ManagerURL is the manager's API on this host (the NodePort's mapped loopback port).
func (d *Driver) ManagerURL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.managerURL
}

func (d *Driver) node(name string) (cluster.Node, error) {
	for _, n := range d.Nodes() {
		if n.Name == name {
			return n, nil
		}
	}
	return cluster.Node{}, fmt.Errorf("%w: %s", cluster.ErrUnknownNode, name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(ctx context.Context, url string) error {
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Name is the kind cluster's name.
func (d *Driver) Name() string { return d.cfg.Name }

// Ready reports whether Up got as far as a Kubernetes client (so logs can be read).
func (d *Driver) Ready() bool { return d.kube != nil }

// LogDir is where Logs and Down save pod logs.
func (d *Driver) LogDir() string { return d.cfg.LogDir }
