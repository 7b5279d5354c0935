package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/internal/versitygw"
	"github.com/faultline/faultline/timeline"
)

// Bucket and region of every S3 endpoint of a local cluster.
const (
	S3Bucket = "backups"
	S3Region = "us-east-1"
)

var _ cluster.S3Endpoints = (*Driver)(nil)

// s3Endpoint is a versitygw process the driver runs as a backup-target
// endpoint, supervised like the node processes.
type s3Endpoint struct {
	ep   cluster.S3Endpoint
	proc *process
}

var endpointName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// s3ProcessName is the endpoint's process name in Logs, LogTail, Status and
// cluster.json; the prefix keeps it apart from the manager and the nodes.
func s3ProcessName(endpoint string) string { return "versitygw-" + endpoint }

// StartS3Endpoint runs versitygw's posix backend over DIR/s3/NAME, on a
// free port of the node's loopback address (127.0.0.1 for node ""), with
// the cluster's S3 credentials (random, made with the first endpoint, never
// logged: they reach versitygw through its environment) and the bucket
// S3Bucket. Its log is logs/versitygw-NAME.log. StopNode SIGKILLs it with
// the node; StartNode restarts it on the same address and directory.
func (d *Driver) StartS3Endpoint(ctx context.Context, name, node string) (cluster.S3Endpoint, error) {
	if !endpointName.MatchString(name) {
		return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint name %q: want lowercase letters, digits and dashes (at most 40)", name)
	}
	bin, err := versitygw.Find()
	if err != nil {
		if errors.Is(err, versitygw.ErrNotFound) {
			return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint %s: %w: %w", name, cluster.ErrNoS3Server, err)
		}
		return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint %s: %w", name, err)
	}

	d.mu.Lock()
	if !d.up {
		d.mu.Unlock()
		return cluster.S3Endpoint{}, errors.New("local cluster is not up")
	}
	if e, ok := d.s3[name]; ok {
		d.mu.Unlock()
		if e.ep.Node != node {
			return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint %s runs on node %q already, not %q", name, e.ep.Node, node)
		}
		return e.ep, nil
	}
	host := "127.0.0.1"
	if node != "" {
		i := slices.IndexFunc(d.nodes, func(n cluster.Node) bool { return n.Name == node })
		if i < 0 {
			d.mu.Unlock()
			return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint %s on node %q: %w", name, node, cluster.ErrUnknownNode)
		}
		host = d.nodes[i].Address
	}
	if d.s3Access == "" {
		if d.s3Access, d.s3Secret, err = versitygw.NewCredentials(); err != nil {
			d.mu.Unlock()
			return cluster.S3Endpoint{}, err
		}
	}
	port, err := freePort(host)
	if err != nil {
		d.mu.Unlock()
		return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint %s: %w", name, err)
	}
	root := filepath.Join(d.cfg.Dir, "s3", name)
	ep := cluster.S3Endpoint{Name: name, Node: node, Endpoint: "http://" + net2(host, port),
		AccessKey: d.s3Access, SecretKey: d.s3Secret, Bucket: S3Bucket, Region: S3Region}
	client, err := versitygw.NewClient(ep.Endpoint, ep.AccessKey, ep.SecretKey, ep.Region)
	if err != nil {
		d.mu.Unlock()
		return cluster.S3Endpoint{}, err
	}
	pname := s3ProcessName(name)
	p := &process{keep: d.cfg.KeepProcesses, name: pname, args: versitygw.Args(net2(host, port), root, ep.Region),
		env: versitygw.Env(ep.AccessKey, ep.SecretKey), logPath: d.logPath(pname), onStarted: d.persist,
		ready: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return versitygw.Ready(ctx, client)
		}}
	if d.s3 == nil {
		d.s3 = map[string]*s3Endpoint{}
	}
	d.s3[name] = &s3Endpoint{ep: ep, proc: p}
	d.procs[pname] = p
	parent := d.ctx
	d.mu.Unlock()

	fail := func(err error) (cluster.S3Endpoint, error) {
		p.halt(context.Background(), syscall.SIGKILL)
		d.mu.Lock()
		delete(d.s3, name)
		delete(d.procs, pname)
		d.mu.Unlock()
		d.persist()
		return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint %s: %w (log %s)", name, err, p.logPath)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fail(err)
	}
	if err := p.start(parent, bin, d.backoff(), d.rec); err != nil {
		return fail(err)
	}
	rctx, cancel := context.WithTimeout(ctx, d.cfg.ReadyTimeout)
	defer cancel()
	if err := waitReady(rctx, p); err != nil {
		return fail(err)
	}
	if err := versitygw.EnsureBucket(rctx, client, ep.Bucket, ep.Region); err != nil {
		return fail(err)
	}
	lane := node
	if lane == "" {
		lane = pname
	}
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: lane, Name: "S3 endpoint started",
		Detail: map[string]string{"endpoint": name, "url": ep.Endpoint, "pid": strconv.Itoa(pidOf(p))}})
	d.log.Info("S3 endpoint up", "endpoint", ep)
	return ep, nil
}

func pidOf(p *process) int {
	pid, _, _, _, _ := p.snapshot()
	return pid
}

// nodeEndpoints returns the processes of the S3 endpoints tied to node.
func (d *Driver) nodeEndpoints(node string) []*process {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*process
	for _, e := range d.s3 {
		if e.ep.Node == node {
			out = append(out, e.proc)
		}
	}
	return out
}

// startNodeEndpoints starts the node's stopped S3 endpoints again and waits
// until each answers.
func (d *Driver) startNodeEndpoints(ctx context.Context, node string) error {
	d.mu.Lock()
	parent := d.ctx
	d.mu.Unlock()
	bin, err := versitygw.Find()
	eps := d.nodeEndpoints(node)
	if len(eps) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("start the S3 endpoints of node %s: %w", node, err)
	}
	for _, p := range eps {
		if _, _, stopped, _, _ := p.snapshot(); !stopped {
			continue // running, or its supervisor is restarting it
		}
		if err := p.start(parent, bin, d.backoff(), d.rec); err != nil {
			return fmt.Errorf("start %s of node %s: %w", p.name, node, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ReadyTimeout)
	defer cancel()
	for _, p := range eps {
		if err := waitReady(ctx, p); err != nil {
			return fmt.Errorf("%s of node %s: %w (log %s)", p.name, node, err, p.logPath)
		}
	}
	return nil
}

// endpointProcs returns every S3 endpoint process, sorted by name.
func (d *Driver) endpointProcs() []*process {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*process
	for _, e := range d.s3 {
		out = append(out, e.proc)
	}
	slices.SortFunc(out, func(a, b *process) int { return strings.Compare(a.name, b.name) })
	return out
}
