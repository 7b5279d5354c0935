package instance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/internal/fiojson"
	"github.com/faultline/faultline/internal/testtool"
)

// secondImage copies the refengine binary to a new path and registers it
// as engine image "v2": a live upgrade to it really switches the process
// (and the executable) that serves the volume.
func (cl *cluster) secondImage() string {
	cl.t.Helper()
	path := filepath.Join(cl.dir, "refengine-v2")
	src, err := os.Open(refengineBin)
	if err != nil {
		cl.t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		cl.t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		cl.t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		cl.t.Fatal(err)
	}
	if _, err := cl.c.CreateEngineImage(context.Background(), api.EngineImageCreateRequest{Name: "v2", Version: "v2", BinaryPath: path}); err != nil {
		cl.t.Fatalf("create engine image: %v", err)
	}
	return path
}

// frontendConnections asks a node how many connections its export has.
func (cl *cluster) frontendConnections(node int, export string) int {
	cl.t.Helper()
	sock := filepath.Join(cl.dir, cl.nodes[node].name, "rpc.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := jsonrpc.Dial(ctx, "unix", sock)
	if err != nil {
		cl.t.Fatal(err)
	}
	defer c.Close()
	var exports []struct {
		ExportName  string `json:"export_name"`
		Connections int    `json:"connections"`
	}
	if err := c.Call(ctx, "nbd_get_exports", nil, &exports); err != nil {
		cl.t.Fatal(err)
	}
	for _, e := range exports {
		if e.ExportName == export {
			return e.Connections
		}
	}
	return 0
}

// TestLiveUpgradeUnderFio upgrades the engine of an attached volume while
// fio writes and verifies through the frontend: fio sees no error, and the
// volume ends on the new image served by a new process.
func TestLiveUpgradeUnderFio(t *testing.T) {
	if refengineBin == "" {
		t.Skip("integration test: runs real processes (skipped with -short)")
	}
	fio := testtool.Require(t, "fio", "fio")
	if out, err := exec.Command(fio, "--enghelp").CombinedOutput(); err != nil || !strings.Contains(string(out), "nbd") {
		testtool.Require(t, "fio-with-nbd-engine", "fio")
	}
	cl := newCluster(t, 2)
	image := cl.secondImage()
	cl.createVolume("vol1", 2)
	v := cl.attach("vol1", "n1")
	oldPID := lastEnginePID(t, cl.nodes[0].logs())
	u, _ := url.Parse(v.Status.Endpoint)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const size = 12 << 20
	// Rate-limited so the run spans the upgrade; fio's result decides.
	cmd := exec.CommandContext(ctx, fio, "--name=verify", "--ioengine=nbd", "--uri="+v.Status.Endpoint,
		"--rw=randwrite", "--bs=4k", "--iodepth=16", fmt.Sprintf("--size=%d", size), "--rate=,4m",
		"--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--output-format=json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = t.TempDir() // fio writes its verify state file there
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	finished := make(chan error, 1)
	go func() { finished <- cmd.Wait() }()
	export := strings.TrimPrefix(u.Path, "/")
	cl.waitFor("fio connected", 30*time.Second, func(ctx context.Context) (bool, string) {
		select {
		case err := <-finished:
			t.Fatalf("fio exited before connecting: %v\n%s", err, stderr.String())
		default:
		}
		return cl.frontendConnections(0, export) > 0, "no connection"
	})
	if _, err := cl.c.UpgradeVolume(ctx, "vol1", "v2"); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	cl.waitFor("volume on image v2", 30*time.Second, func(ctx context.Context) (bool, string) {
		v, err := cl.c.GetVolume(ctx, "vol1")
		if err != nil {
			return false, err.Error()
		}
		return v.Status.CurrentImage == "v2" && strings.Contains(cl.nodes[0].logs(), `msg="engine upgraded"`), fmt.Sprintf("current image %q", v.Status.CurrentImage)
	})
	select {
	case <-finished:
		t.Fatal("fio had finished before the upgrade did: the test proved nothing")
	default:
	}
	if pid := lastEnginePID(t, cl.nodes[0].logs()); pid == oldPID {
		t.Fatalf("engine process %d still serves after the upgrade", pid)
	}
	if !strings.Contains(cl.nodes[0].logs(), "image="+image) {
		t.Fatalf("no engine process started from %s", image)
	}
	err := <-finished
	res, jerr := fiojson.Parse(stdout.Bytes())
	if jerr != nil {
		t.Fatalf("fio output (%v, %v):\n%s\n%s", err, jerr, stdout.String(), stderr.String())
	}
	if err != nil || len(res.Jobs) == 0 {
		t.Fatalf("fio: %v, %d jobs\n%s", err, len(res.Jobs), stderr.String())
	}
	for _, j := range res.Jobs {
		if err := j.Verified(size); err != nil {
			t.Error(err)
		}
	}
}

// TestEngineKilledMidUpgrade kills the engine process right as a live
// upgrade is requested: the volume comes back healthy with every flushed
// write.
func TestEngineKilledMidUpgrade(t *testing.T) {
	cl := newCluster(t, 2)
	cl.secondImage()
	cl.createVolume("vol1", 2)
	v := cl.attach("vol1", "n1")
	dev := dialEndpoint(t, v.Status.Endpoint)
	want := sha256.Sum256(writePattern(t, dev, 11, 2<<20))
	dev.Close()
	pid := lastEnginePID(t, cl.nodes[0].logs())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.c.UpgradeVolume(ctx, "vol1", "v2"); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill engine: %v", err)
	}
	cl.waitFor("volume recovers", 60*time.Second, func(ctx context.Context) (bool, string) {
		v, err := cl.c.GetVolume(ctx, "vol1")
		if err != nil {
			return false, err.Error()
		}
		ok := v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy && lastEnginePID(t, cl.nodes[0].logs()) != pid
		return ok, fmt.Sprintf("%s/%s image %q", v.Status.State, v.Status.Robustness, v.Status.CurrentImage)
	})
	v, _ = cl.c.GetVolume(context.Background(), "vol1")
	t.Logf("recovered on image %q", v.Status.CurrentImage)
	dev = dialEndpoint(t, v.Status.Endpoint)
	if got := digest(t, dev, 2<<20); got != want {
		t.Fatalf("after engine death mid-upgrade: digest %x, want %x", got, want)
	}
}
