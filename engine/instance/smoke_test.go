package instance_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
)

const volSize = 16 << 20

// writePattern writes seeded random data over the first n bytes of the
// device in 1 MiB requests, flushes, and returns the data.
func writePattern(t *testing.T, dev *nbd.Client, seed uint64, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for off := 0; off < n; off += 1 << 20 {
		end := min(off+1<<20, n)
		if _, err := dev.WriteAt(data[off:end], int64(off)); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
	if err := dev.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return data
}

// digest reads the first n bytes and returns their SHA-256.
func digest(t *testing.T, dev *nbd.Client, n int) [32]byte {
	t.Helper()
	buf := make([]byte, n)
	for off := 0; off < n; off += 1 << 20 {
		end := min(off+1<<20, n)
		if _, err := dev.ReadAt(buf[off:end], int64(off)); err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	return sha256.Sum256(buf)
}

// attach attaches a volume to a node and waits until it is attached and
// healthy.
func (cl *cluster) attach(name, node string) api.Volume {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.c.AttachVolume(ctx, name, node); err != nil {
		cl.t.Fatalf("attach %s to %s: %v", name, node, err)
	}
	return cl.waitVolume(name, api.VolumeAttached, api.RobustnessHealthy, 60*time.Second)
}

func (cl *cluster) createVolume(name string, replicas int) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: volSize, NumberOfReplicas: replicas}); err != nil {
		cl.t.Fatalf("create volume %s: %v", name, err)
	}
	cl.waitVolume(name, api.VolumeDetached, "", 30*time.Second)
}

// TestSmoke is the framework's smoke path on real processes: a 3-replica
// volume is created, attached, written and read back through the frontend,
// detached and deleted.
func TestSmoke(t *testing.T) {
	cl := newCluster(t, 3)
	cl.createVolume("vol1", 3)
	v := cl.attach("vol1", "n1")
	dev := dialEndpoint(t, v.Status.Endpoint)
	if dev.Size() != volSize {
		t.Fatalf("frontend size %d, want %d", dev.Size(), volSize)
	}
	data := writePattern(t, dev, 1, 4<<20)
	want := sha256.Sum256(data)
	for i := range 3 {
		if got := digest(t, dev, len(data)); got != want {
			t.Fatalf("read %d: digest %x, want %x", i, got, want)
		}
	}
	engines, err := cl.c.ListEngines(context.Background(), "vol1")
	if err != nil || len(engines) != 1 {
		t.Fatalf("engines of vol1: %+v, %v", engines, err)
	}
	if modes := engines[0].Status.ReplicaModes; len(modes) != 3 {
		t.Errorf("replica modes %v, want 3 replicas", modes)
	}
	dev.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.c.DetachVolume(ctx, "vol1"); err != nil {
		t.Fatalf("detach: %v", err)
	}
	cl.waitVolume("vol1", api.VolumeDetached, "", 30*time.Second)
	// Reattached elsewhere, the data is still there.
	v = cl.attach("vol1", "n2")
	dev = dialEndpoint(t, v.Status.Endpoint)
	if got := digest(t, dev, len(data)); got != want {
		t.Fatalf("after reattach on n2: digest %x, want %x", got, want)
	}
	dev.Close()
	if _, err := cl.c.DetachVolume(ctx, "vol1"); err != nil {
		t.Fatalf("detach: %v", err)
	}
	cl.waitVolume("vol1", api.VolumeDetached, "", 30*time.Second)
	if _, err := cl.c.DeleteVolume(ctx, "vol1"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	cl.waitFor("vol1 gone", 30*time.Second, func(ctx context.Context) (bool, string) {
		v, err := cl.c.GetVolume(ctx, "vol1")
		return api.IsCode(err, 404), fmt.Sprintf("%+v %v", v.Status, err)
	})
}
