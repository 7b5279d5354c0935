package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/internal/gobuild"
)

// The integration tests run this manager in-process (so -race covers the
// controllers) against real `refengine node` processes: real lvstores on
// sparse files, real JSON-RPC, real NBD.

var (
	buildOnce sync.Once
	binPath   string
	removeBin func()
	buildErr  error
)

// refengineBinary builds refengine once, on first use, so that the unit
// tests in this package do not pay for it.
func refengineBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath, removeBin, buildErr = gobuild.Temp(context.Background(), gobuild.Refengine)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a TCP port that was free on host a moment ago.
func freePort(t testing.TB, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (loopback aliases needed): %v", host, err)
	}
	defer l.Close()
	return l.Addr().String()
}

// nodeProc is one `refengine node` process that can be killed and restarted
// with the same disks.
type nodeProc struct {
	t    testing.TB
	args []string
	log  *os.File
	cmd  *exec.Cmd
}

func startNode(t testing.TB, name, host, managerURL string, extra ...string) *nodeProc {
	t.Helper()
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeProc{t: t, log: logf, args: []string{
		"node", "--name", name, "--data-dir", dir, "--rpc-socket", filepath.Join(dir, "rpc.sock"),
		"--nbd-listen", freePort(t, host), "--disk", "d1=disk.img:128M",
		"--manager", managerURL, "--heartbeat", "200ms",
	}}
	n.args = append(n.args, extra...)
	n.start()
	t.Cleanup(func() {
		n.kill()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("log of node %s:\n%s", name, tail(string(b), 40))
		}
	})
	return n
}

func (n *nodeProc) start() {
	n.t.Helper()
	n.cmd = exec.Command(refengineBinary(n.t), n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
}

// kill SIGKILLs the process and waits until it is gone.
func (n *nodeProc) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	n.cmd.Wait()
	n.cmd = nil
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// openEndpoint connects to a volume's nbd://host:port/export endpoint.
func openEndpoint(t testing.TB, endpoint string) *nbd.Client {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nbd.Dial(ctx, "tcp", u.Host, strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// restartAndRecover SIGKILLs a node process, starts it again and waits
// until the manager has dropped the dead engine (it notices at its next
// engine poll) and the volume is attached and healthy again.
func restartAndRecover(t testing.TB, ctx context.Context, tm *testManager, n *nodeProc, volume string) api.Volume {
	t.Helper()
	since, err := tm.m.store.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	n.kill()
	n.start()
	for dropped := false; !dropped; {
		l, err := tm.c.Events(ctx, since, 10*time.Second, 0)
		if err != nil {
			t.Fatalf("waiting for the dead engine to be dropped: %v", err)
		}
		for _, ev := range l.Events {
			dropped = dropped || (ev.Kind == api.KindEngine && ev.Type == api.EventDeleted && ev.Name == api.EngineName(volume, 0))
		}
		since = l.Next
	}
	v, err := tm.c.WaitVolume(ctx, volume, func(v api.Volume) bool {
		return v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntegrationAttachWriteNodeRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts refengine node processes")
	}
	tm := startManager(t, t.TempDir(), Config{NodeTimeout: 2 * time.Second, MonitorInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n1 := startNode(t, "n1", "127.0.0.2", tm.url)
	startNode(t, "n2", "127.0.0.3", tm.url)
	waitFor(t, "two nodes up with an lvstore", func() (bool, error) {
		nodes, err := tm.c.ListNodes(ctx)
		up := 0
		for _, n := range nodes {
			if n.Status.State == api.NodeUp && len(n.Status.Disks) == 1 && n.Status.Disks[0].LvstoreUUID != "" {
				up++
			}
		}
		return up == 2, err
	})

	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol", Size: 16 * api.MiB, NumberOfReplicas: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.AttachVolume(ctx, "vol", "n1"); err != nil {
		t.Fatal(err)
	}
	healthy := func(v api.Volume) bool {
		return v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy
	}
	v, err := tm.c.WaitVolume(ctx, "vol", healthy)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := tm.c.ListReplicas(ctx, "vol")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Status.Mode != api.ModeRW || r.Status.HealthyAt.IsZero() {
			t.Errorf("replica %s of a healthy volume: %+v", r.Name, r.Status)
		}
	}

	data := make([]byte, 1<<20)
	rand.Read(data)
	dev := openEndpoint(t, v.Status.Endpoint)
	if _, err := dev.WriteAt(data, 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	dev.Close()

	// Kill the node that serves the engine and one replica, start it again:
	// the volume must come back attached and healthy with the flushed data.
	v = restartAndRecover(t, ctx, tm, n1, "vol")
	dev = openEndpoint(t, v.Status.Endpoint)
	got := make([]byte, len(data))
	if _, err := dev.ReadAt(got, 3<<20); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("flushed data differs after the node restart")
	}

	// Snapshot through the engine on every replica.
	if _, err := tm.c.SnapshotVolume(ctx, "vol", "snap1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "snapshot ready", func() (bool, error) {
		s, err := tm.c.GetSnapshot(ctx, api.SnapshotResourceName("vol", "snap1"))
		if s.Status.State == api.SnapshotError {
			return false, fmt.Errorf("snapshot failed: %s", s.Status.Message)
		}
		return s.Status.State == api.SnapshotReady, err
	})

	// Live upgrade to a second engine image (a copy of the binary).
	img := filepath.Join(t.TempDir(), "refengine-v2")
	bin, err := os.ReadFile(refengineBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: "v2", Version: "2", BinaryPath: img}); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.UpgradeVolume(ctx, "vol", "v2"); err != nil {
		t.Fatal(err)
	}
	v, err = tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.CurrentImage == "v2" })
	if err != nil {
		t.Fatal(err)
	}
	if !healthy(v) {
		t.Errorf("volume after live upgrade: %+v", v.Status)
	}
	dev = openEndpoint(t, v.Status.Endpoint)
	if _, err := dev.ReadAt(got, 3<<20); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("data differs after the live upgrade")
	}

	if _, err := tm.c.DetachVolume(ctx, "vol"); err != nil {
		t.Fatal(err)
	}
	v, err = tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached })
	if err != nil {
		t.Fatal(err)
	}
	if v.Status.Robustness != api.RobustnessUnknown || v.Status.Endpoint != "" {
		t.Errorf("detached volume status %+v", v.Status)
	}
	if engs, err := tm.c.ListEngines(ctx, "vol"); err != nil || len(engs) != 0 {
		t.Errorf("engines after detach: %v, %v", engs, err)
	}
	if _, err := tm.c.DeleteVolume(ctx, "vol"); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Name == "" }); err != nil {
		t.Fatal(err)
	}
	if reps, err := tm.c.ListReplicas(ctx, "vol"); err != nil || len(reps) != 0 {
		t.Errorf("replicas after delete: %v, %v", reps, err)
	}
}

// BenchmarkNodeRestartRecovery measures how long a SIGKILLed node process
// takes, from the kill, to bring a 1-replica volume it serves back to
// attached and healthy (restart, detection at the next engine poll,
// reattach). Run with -benchtime 20x; s/op is the mean, median-s the median.
func BenchmarkNodeRestartRecovery(b *testing.B) {
	tm := startManager(b, b.TempDir(), Config{NodeTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n1 := startNode(b, "n1", "127.0.0.2", tm.url)
	waitFor(b, "node up", func() (bool, error) {
		n, err := tm.c.GetNode(ctx, "n1")
		if api.IsNotFound(err) {
			return false, nil
		}
		return n.Status.State == api.NodeUp && len(n.Status.Disks) == 1, err
	})
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "bench", Size: 16 * api.MiB, NumberOfReplicas: 1}); err != nil {
		b.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "bench", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		b.Fatal(err)
	}
	if _, err := tm.c.AttachVolume(ctx, "bench", "n1"); err != nil {
		b.Fatal(err)
	}
	v, err := tm.c.WaitVolume(ctx, "bench", func(v api.Volume) bool { return v.Status.Robustness == api.RobustnessHealthy })
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	dev := openEndpoint(b, v.Status.Endpoint)
	if _, err := dev.WriteAt(data, 0); err != nil {
		b.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		b.Fatal(err)
	}
	dev.Close()
	var times []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		v = restartAndRecover(b, ctx, tm, n1, "bench")
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(times[len(times)/2].Seconds(), "median-s")
	dev = openEndpoint(b, v.Status.Endpoint)
	got := make([]byte, len(data))
	if _, err := dev.ReadAt(got, 0); err != nil {
		b.Fatal(err)
	}
	dev.Close()
	if !bytes.Equal(got, data) {
		b.Fatal("data differs after the restarts")
	}
}

// TestMain removes the refengine binary the integration tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if removeBin != nil {
		removeBin()
	}
	os.Exit(code)
}
