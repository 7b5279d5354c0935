package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/internal/testtool"
	"github.com/faultline/faultline/timeline"
)

// upLocal starts a real local cluster of n nodes for one test and returns
// its driver and an API client; the cluster goes down at cleanup.
func upLocal(t *testing.T, n int) (*local.Driver, *client.Client) {
	t.Helper()
	ref := testtool.Refengine(t)
	if _, err := local.Probe(t.Context(), ref); errors.Is(err, local.ErrNoManager) || errors.Is(err, local.ErrNoNode) {
		t.Skipf("refengine cannot run a cluster yet: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	d, err := local.New(local.Config{Dir: t.TempDir(), Refengine: ref, Nodes: n, DiskSize: 256 << 20,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Timeline: timeline.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := d.Up(ctx); err != nil {
		t.Fatalf("cluster up: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, d)
		}
		d.Down(context.Background())
	})
	c, err := cluster.ManagerClient(d)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

// logTails logs the end of every process's log, to explain a failure.
func logTails(t *testing.T, d cluster.Driver) {
	logs, _ := d.Logs(context.Background())
	for name := range logs {
		tail, _ := d.LogTail(name, 30)
		t.Logf("--- %s\n%s", name, tail)
	}
}

// waitNodesRegistered waits until the manager knows n nodes.
func waitNodesRegistered(ctx context.Context, t *testing.T, c *client.Client, n int) {
	t.Helper()
	waitFor(ctx, t, fmt.Sprintf("%d nodes registered in the manager", n), func() (bool, string) {
		nodes, err := c.ListNodes(ctx)
		return err == nil && len(nodes) == n, fmt.Sprintf("%d nodes, %v", len(nodes), err)
	})
}

// waitFor polls cond every 100ms until it holds or ctx ends; cond's text
// says what it saw last, for the failure message.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %s)", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// attachedVolume creates a volume of the given replica count, attaches it
// to node and waits until it is attached and healthy.
func attachedVolume(ctx context.Context, t *testing.T, c *client.Client, name string, size int64, replicas int, node string) api.Volume {
	t.Helper()
	if _, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: size, NumberOfReplicas: replicas, Frontend: api.FrontendNBD}); err != nil {
		t.Fatalf("create volume %s: %v", name, err)
	}
	if _, err := c.WaitVolume(ctx, name, func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		t.Fatalf("volume %s never detached: %v", name, err)
	}
	if _, err := c.AttachVolume(ctx, name, node); err != nil {
		t.Fatalf("attach volume %s to %s: %v", name, node, err)
	}
	v, err := c.WaitVolume(ctx, name, healthy)
	if err != nil {
		t.Fatalf("volume %s not attached and healthy: %v (%+v)", name, err, v.Status)
	}
	return v
}

// replicaOn returns the volume's replica on node.
func replicaOn(ctx context.Context, t *testing.T, c *client.Client, volume, node string) api.Replica {
	t.Helper()
	reps, err := c.ListReplicas(ctx, volume)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Spec.Node == node {
			return r
		}
	}
	t.Fatalf("no replica of %s on %s: %+v", volume, node, reps)
	return api.Replica{}
}

func healthy(v api.Volume) bool {
	return v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy && v.Status.Endpoint != ""
}

// dialVolume connects to a volume's NBD endpoint (nbd://host:port/export).
func dialVolume(ctx context.Context, t *testing.T, endpoint string) *nbd.Client {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "nbd" {
		t.Fatalf("endpoint %q: want nbd://host:port/export (%v)", endpoint, err)
	}
	dev, err := nbd.Dial(ctx, "tcp", u.Host, strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		t.Fatalf("connect to %s: %v", endpoint, err)
	}
	return dev
}

// remoteOf serves d's control socket in this process, as `faultline cluster
// up` does, and returns the client a second faultline process would use.
func remoteOf(t *testing.T, d *local.Driver) *local.Remote {
	t.Helper()
	sock, err := local.ControlSocketPath(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- local.ServeControl(ctx, d, l, func() {}) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	if err := d.SetSupervisor(os.Getpid(), sock); err != nil {
		t.Fatal(err)
	}
	r, err := local.Attach(t.Context(), d.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
