package instance_test

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/internal/procs"
)

// proc is a refengine process whose stderr is kept for failure messages.
type proc struct {
	t    *testing.T
	name string
	args []string
	p    *procs.Proc
}

// start runs the process and waits for the log line matching readyRE,
// returning its first submatch.
func (p *proc) start(readyRE *regexp.Regexp) string {
	p.t.Helper()
	cmd := exec.Command(refengineBin, p.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pp, err := procs.Start(cmd, readyRE)
	if err != nil {
		p.t.Fatal(err)
	}
	p.p = pp
	return p.ready()
}

// ready waits for the ready line and returns its first submatch.
func (p *proc) ready() string {
	p.t.Helper()
	v, err := p.p.Ready(20 * time.Second)
	if err != nil {
		p.t.Fatalf("%s %v:\n%s", p.name, err, p.logs())
	}
	return v
}

func (p *proc) logs() string {
	if p.p == nil {
		return ""
	}
	return p.p.Log()
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.p != nil {
		p.p.Kill()
	}
}

// cluster is a manager and some nodes, all real processes on loopback.
type cluster struct {
	t     *testing.T
	dir   string
	mgr   *proc
	url   string
	c     *client.Client
	nodes []*proc
	// cred is the cluster credential manager and nodes load, as in a real
	// deployment: the nodes protect their replica exports with it.
	cred credential.Token
}

var (
	managerReady = regexp.MustCompile(`msg="manager serving".* url=(\S+)`)
	nodeReady    = regexp.MustCompile(`msg="node ready".*nbd_listen=(\S+)`)
)

// newCluster starts a manager and n nodes on 127.0.0.2.. with one 256 MiB
// disk each and a cluster credential, and waits until every node is up
// with its disk.
func newCluster(t *testing.T, n int, defects ...string) *cluster {
	t.Helper()
	return newClusterWith(t, clusterOptions{nodes: n, defects: defects})
}

// clusterOptions shape a test cluster.
type clusterOptions struct {
	nodes   int
	defects []string
	// tcpRPC gives the nodes a TCP JSON-RPC (on a free port), which the
	// manager and the nodes then reach each other by, proving the
	// cluster credential; otherwise they use the nodes' Unix sockets.
	tcpRPC bool
	// nodeArgs are more flags for every node.
	nodeArgs []string
}

// newClusterWith is newCluster with options.
func newClusterWith(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if refengineBin == "" {
		t.Skip("integration test: runs real processes (skipped with -short)")
	}
	n, defects := o.nodes, o.defects
	cl := &cluster{t: t, dir: t.TempDir()}
	tokenFile := filepath.Join(cl.dir, "cluster.token")
	cred, err := credential.LoadOrCreate(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	cl.cred = cred
	cl.mgr = &proc{t: t, name: "manager", args: []string{"manager", "--listen", "127.0.0.1:0",
		"--data-dir", filepath.Join(cl.dir, "mgr"), "--node-timeout", "3s", "--cluster-token-file", tokenFile,
		// The tests make their engine and backing image files here.
		"--engine-image-dir", cl.dir, "--backing-image-dir", cl.dir}}
	t.Cleanup(cl.stop)
	cl.url = cl.mgr.start(managerReady)
	c, err := client.New(cl.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(cred.AdminAPIToken()) // the manager's REST API wants it
	cl.c = c
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		dir := filepath.Join(cl.dir, name)
		args := []string{"node", "--name", name, "--data-dir", dir, "--rpc-socket", filepath.Join(dir, "rpc.sock"),
			"--nbd-listen", fmt.Sprintf("127.0.0.%d:0", i+2), "--disk", "disk0=disk0.img:256M",
			"--manager", cl.url, "--heartbeat", "200ms", "--cluster-token-file", tokenFile}
		if len(defects) > 0 {
			args = append(args, "--defects", strings.Join(defects, ","))
		}
		if o.tcpRPC {
			args = append(args, "--rpc-listen", fmt.Sprintf("127.0.0.%d:0", i+2))
		}
		args = append(args, o.nodeArgs...)
		p := &proc{t: t, name: name, args: args}
		p.start(nodeReady)
		cl.nodes = append(cl.nodes, p)
	}
	cl.waitFor("every node up with a disk", 20*time.Second, func(ctx context.Context) (bool, string) {
		nodes, err := cl.c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		up := 0
		for _, nd := range nodes {
			if nd.Status.State == api.NodeUp && len(nd.Status.Disks) == 1 && nd.Status.Disks[0].LvstoreUUID != "" {
				up++
			}
		}
		return up == n, fmt.Sprintf("%d of %d nodes up: %+v", up, n, nodes)
	})
	return cl
}

func (cl *cluster) stop() {
	for _, p := range cl.nodes {
		p.kill()
	}
	if cl.mgr != nil {
		cl.mgr.kill()
	}
	if cl.t.Failed() {
		cl.t.Logf("manager log:\n%s", tail(cl.mgr.logs(), 6000))
		for _, p := range cl.nodes {
			cl.t.Logf("%s log:\n%s", p.name, tail(p.logs(), 6000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// restartNode kills a node process with SIGKILL and starts it again with
// the same flags.
func (cl *cluster) restartNode(i int) {
	cl.t.Helper()
	p := cl.nodes[i]
	np, err := p.p.Restart()
	if err != nil {
		cl.t.Fatal(err)
	}
	p.p = np
	p.ready()
}

// waitFor polls cond every 100ms until it holds or the deadline passes.
func (cl *cluster) waitFor(what string, timeout time.Duration, cond func(ctx context.Context) (bool, string)) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, state := cond(ctx)
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			cl.t.Fatalf("waiting for %s: timed out after %v; last: %s", what, timeout, last)
		case <-tick.C:
		}
	}
}

// waitVolume waits until a volume is in state with robustness (any
// robustness when empty) and returns it.
func (cl *cluster) waitVolume(name, state, robustness string, timeout time.Duration) api.Volume {
	cl.t.Helper()
	var v api.Volume
	cl.waitFor(fmt.Sprintf("volume %s %s/%s", name, state, robustness), timeout, func(ctx context.Context) (bool, string) {
		var err error
		v, err = cl.c.GetVolume(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return v.Status.State == state && (robustness == "" || v.Status.Robustness == robustness),
			fmt.Sprintf("%s/%s %+v", v.Status.State, v.Status.Robustness, v.Status.Conditions)
	})
	return v
}

// dialEndpoint opens an engine frontend, nbd://host:port/export.
func dialEndpoint(t *testing.T, endpoint string) *nbd.Client {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "nbd" {
		t.Fatalf("endpoint %q: want nbd://host:port/export (%v)", endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nbd.Dial(ctx, "tcp", u.Host, strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		t.Fatalf("dial %s: %v", endpoint, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialQuiet opens an engine frontend and returns errors instead of failing.
func dialQuiet(ctx context.Context, endpoint string) (*nbd.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	return nbd.Dial(ctx, "tcp", u.Host, strings.TrimPrefix(u.Path, "/"))
}
