package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/internal/versitygw"
)

// An S3 endpoint tied to a node is one of its processes: StopNode takes it
// down (connection refused), StartNode brings it back on the same address
// with the same data. An endpoint tied to no node is not touched.
func TestS3EndpointOnNode(t *testing.T) {
	versitygw.Path(t) // skips, saying how to install it, when missing
	d := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	ep, err := d.StartS3Endpoint(ctx, "bt-node-1", "node-1")
	if err != nil {
		t.Fatalf("start endpoint: %v\n%s", err, allTails(d))
	}
	if u, err := url.Parse(ep.Endpoint); err != nil || u.Hostname() != d.Nodes()[0].Address {
		t.Fatalf("endpoint %s is not on node-1's address %s", ep.Endpoint, d.Nodes()[0].Address)
	}
	free, err := d.StartS3Endpoint(ctx, "bt-free", "")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := d.StartS3Endpoint(ctx, "bt-node-1", "node-1"); err != nil || again != ep {
		t.Fatalf("starting it again = %v, %v; want the same endpoint", again, err)
	}
	if _, err := d.StartS3Endpoint(ctx, "bt-node-1", "node-2"); err == nil {
		t.Fatal("the same endpoint name on another node was accepted")
	}
	if _, err := d.StartS3Endpoint(ctx, "x", "node-9"); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Fatalf("unknown node: %v", err)
	}

	c := s3Client(t, ep)
	fc := s3Client(t, free)
	put(ctx, t, c, "obj", "on node-1")
	put(ctx, t, fc, "obj", "on no node")

	if err := d.StopNode(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	_, err = c.StatObject(ctx, ep.Bucket, "obj", minio.StatObjectOptions{})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("endpoint of the stopped node answered: %v (want connection refused)", err)
	}
	if got := get(ctx, t, fc, "obj"); got != "on no node" {
		t.Fatalf("endpoint of no node after the stop: %q", got)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.S3Endpoints) != 2 || st.S3Endpoints[0].Name != "versitygw-bt-free" || !st.S3Endpoints[0].Ready ||
		st.S3Endpoints[1].Running || !st.S3Endpoints[1].Stopped {
		t.Fatalf("status of the endpoints after the stop: %+v", st.S3Endpoints)
	}

	if err := d.StartNode(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	// Up again when StartNode returns: no waiting here.
	if got := get(ctx, t, c, "obj"); got != "on node-1" {
		t.Fatalf("object after the node's restart: %q", got)
	}

	// The secret is never written down: not in the logs, not in cluster.json.
	logs, _ := d.Logs(ctx)
	files := []string{filepath.Join(d.Dir(), StateFile)}
	if logs["versitygw-bt-node-1"] == "" {
		t.Fatalf("no log for the endpoint: %v", logs)
	}
	for _, f := range logs {
		files = append(files, f)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(ep.SecretKey)) {
			t.Fatalf("%s holds the S3 secret key", f)
		}
	}

	if err := d.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.StatObject(ctx, free.Bucket, "obj", minio.StatObjectOptions{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("endpoint of no node answers after Down: %v", err)
	}
}

func TestS3EndpointName(t *testing.T) {
	for _, name := range []string{"", "A", "a/b", "-a", "a-", strings.Repeat("a", 41)} {
		if endpointName.MatchString(name) {
			t.Errorf("endpoint name %q accepted", name)
		}
	}
	for _, name := range []string{"s3", "s3-node-1", strings.Repeat("a", 40)} {
		if !endpointName.MatchString(name) {
			t.Errorf("endpoint name %q refused", name)
		}
	}
}

func s3Client(t *testing.T, ep cluster.S3Endpoint) *minio.Client {
	t.Helper()
	c, err := versitygw.NewClient(ep.Endpoint, ep.AccessKey, ep.SecretKey, ep.Region)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(ctx context.Context, t *testing.T, c *minio.Client, key, val string) {
	t.Helper()
	if _, err := c.PutObject(ctx, S3Bucket, key, strings.NewReader(val), int64(len(val)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(ctx context.Context, t *testing.T, c *minio.Client, key string) string {
	t.Helper()
	obj, err := c.GetObject(ctx, S3Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(b)
}

// The manager is started with the restore rate limit when one is set.
func TestRestoreRateLimitFlag(t *testing.T) {
	requireCluster(t)
	f, err := Probe(t.Context(), refengine)
	if err != nil {
		t.Fatal(err)
	}
	if !f.ManagerRestoreRateLimit {
		t.Skip("refengine manager has no --restore-rate-limit")
	}
	d, err := New(Config{Dir: t.TempDir(), Refengine: refengine, Nodes: 1, DiskSize: 64 << 20, RestoreRateLimit: 12345})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Down(context.Background()) })
	d.mu.Lock()
	args := strings.Join(d.mgr.args, " ")
	d.mu.Unlock()
	if !strings.Contains(args, "--restore-rate-limit 12345") {
		t.Fatalf("manager command line lacks the restore rate limit: %s", args)
	}
	// The manager took it: it is still up and answering.
	if st, err := d.Status(t.Context()); err != nil || !st.Manager.Ready {
		t.Fatalf("manager with --restore-rate-limit: %+v, %v", st.Manager, err)
	}
}

// A cluster another process supervises starts S3 endpoints through its
// control socket, secret included.
func TestS3EndpointThroughControlSocket(t *testing.T) {
	versitygw.Path(t)
	d := newCluster(t, 1)
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go ServeControl(ctx, d, l, func() {})
	if err := d.SetSupervisor(os.Getpid(), sock); err != nil {
		t.Fatal(err)
	}
	r, err := Attach(ctx, d.Dir())
	if err != nil {
		t.Fatal(err)
	}
	ep, err := r.StartS3Endpoint(ctx, "remote", "node-1")
	if err != nil {
		t.Fatal(err)
	}
	if ep.SecretKey == "" || ep.Node != "node-1" {
		t.Fatalf("endpoint through the socket: %v (secret set: %t)", ep, ep.SecretKey != "")
	}
	put(ctx, t, s3Client(t, ep), "k", "v")
	if _, err := r.StartS3Endpoint(ctx, "remote", "node-9"); err == nil {
		t.Fatal("conflicting endpoint accepted through the socket")
	}
}
