package engineproc

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/engine/raid1"
)

// replicas serves n malloc devices of 4 MiB over NBD on loopback and
// returns them with their Replica descriptions.
func replicas(t *testing.T, n int) (*nbd.Server, []*malloc.Device, []Replica) {
	t.Helper()
	srv := nbd.NewServer(nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	var devs []*malloc.Device
	var reps []Replica
	for i := range n {
		d, err := malloc.New(8192, 512)
		if err != nil {
			t.Fatal(err)
		}
		name := string(rune('a' + i))
		if err := srv.AddExport(name, d, nbd.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		devs = append(devs, d)
		reps = append(reps, Replica{Name: name, Address: l.Addr().String(), Export: name})
	}
	return srv, devs, reps
}

func TestEngineServesAndControls(t *testing.T) {
	srv, devs, reps := replicas(t, 3)
	ctx := context.Background()
	// The third replica is unreachable at start: it is reported ERR.
	start := append(reps[:2:2], Replica{Name: "gone", Address: "127.0.0.1:1", Export: "gone"})
	e, err := New(ctx, Config{Name: "e", Size: 4 << 20, Replicas: start, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctl, sock := serve(t, e)
	var info Info
	if err := ctl.Call(ctx, MethodGet, nil, &info); err != nil {
		t.Fatal(err)
	}
	if info.Modes["a"] != "RW" || info.Modes["b"] != "RW" || info.Modes["gone"] != "ERR" || info.Size != 4<<20 {
		t.Fatalf("info %+v", info)
	}
	dev, err := nbd.Dial(ctx, "unix", sock, ExportName)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	data := bytes.Repeat([]byte{0xa5}, 4096)
	if _, err := dev.WriteAt(data, 8192); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, d := range devs[:2] {
		got := make([]byte, 4096)
		d.ReadAt(got, 8192)
		if !bytes.Equal(got, data) {
			t.Errorf("replica %d lacks the write", i)
		}
	}
	// A new replica joins write-only and gets new writes.
	if err := ctl.Call(ctx, MethodReplicaAdd, reps[2], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4096)
	devs[2].ReadAt(got, 0)
	if !bytes.Equal(got, data) {
		t.Error("write-only replica lacks a write made after it joined")
	}
	if err := ctl.Call(ctx, MethodReplicaMode, ModeRequest{Name: "c", Mode: "RW"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Call(ctx, MethodReplicaRemove, NameRequest{Name: "a"}, nil); err != nil {
		t.Fatal(err)
	}
	info = Info{}
	if err := ctl.Call(ctx, MethodGet, nil, &info); err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Modes["a"]; ok || info.Modes["c"] != "RW" {
		t.Fatalf("modes after add and remove: %v", info.Modes)
	}
	// A replica whose export goes away fails the next I/O and turns ERR.
	srv.RemoveExport("b")
	dev.WriteAt(data, 0)
	info = Info{}
	if err := ctl.Call(ctx, MethodGet, nil, &info); err != nil {
		t.Fatal(err)
	}
	if info.Modes["b"] != "ERR" || info.Modes["c"] != "RW" {
		t.Fatalf("modes after losing b: %v", info.Modes)
	}
	// Bad control requests get errors.
	for _, tc := range []struct {
		method string
		params any
	}{
		{MethodReplicaMode, ModeRequest{Name: "c", Mode: "XX"}},
		{MethodReplicaRemove, NameRequest{Name: "nope"}},
		{MethodReplicaAdd, map[string]any{"name": "x"}},
		{MethodReplicaAdd, map[string]any{"name": "c", "address": reps[2].Address, "export": "c"}},
	} {
		if err := ctl.Call(ctx, tc.method, tc.params, nil); err == nil {
			t.Errorf("%s %+v succeeded", tc.method, tc.params)
		}
	}
}

func TestEngineNeedsAReplica(t *testing.T) {
	_, err := New(context.Background(), Config{Name: "e", Size: 1 << 20, Replicas: []Replica{{Name: "x", Address: "127.0.0.1:1", Export: "x"}}, DialTimeout: time.Second})
	if err == nil {
		t.Fatal("engine with no reachable replica started")
	}
}

// bitmapReplicas serves n 4 MiB malloc replicas, each with a formatted
// write-intent bitmap exported as "<name>-bitmap".
func bitmapReplicas(t *testing.T, n int) ([]*malloc.Device, []Replica) {
	t.Helper()
	srv, devs, reps := replicas(t, n)
	for i := range reps {
		bm, err := malloc.New(8, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if err := raid1.FormatIntent(bm, 4<<20, false); err != nil {
			t.Fatal(err)
		}
		reps[i].Bitmap = reps[i].Export + "-bitmap"
		if err := srv.AddExport(reps[i].Bitmap, bm, nbd.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return devs, reps
}

// serve runs e until the test ends and returns a control client and the
// engine's NBD socket path.
func serve(t *testing.T, e *Engine) (*jsonrpc.Client, string) {
	t.Helper()
	dir := t.TempDir()
	ctlL, err := jsonrpc.ListenUnix(filepath.Join(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	nbdL, err := net.Listen("unix", filepath.Join(dir, "n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, ctlL, nbdL) }()
	t.Cleanup(func() { cancel(); <-served })
	ctl, err := jsonrpc.Dial(ctx, "unix", filepath.Join(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	return ctl, filepath.Join(dir, "n")
}

func waitState(t *testing.T, ctl *jsonrpc.Client, want string) Info {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var info Info
		if err := ctl.Call(context.Background(), MethodGet, nil, &info); err != nil {
			t.Fatal(err)
		}
		if info.State == want {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine state %q, want %q: %+v", info.State, want, info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEngineResyncsBeforeServing: replicas left different by a crash in a
// region their bitmaps mark are equal once the engine reports ready.
func TestEngineResyncsBeforeServing(t *testing.T) {
	devs, reps := bitmapReplicas(t, 3)
	ctx := context.Background()
	// A previous engine wrote region 2 and died before a flush: the
	// bitmaps mark it, and the write reached replica b only.
	prev, err := New(ctx, Config{Name: "e", Size: 4 << 20, Replicas: reps, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := prev.Activate(ctx, ModeCrash); err != nil {
		t.Fatal(err)
	}
	if _, err := prev.Raid().WriteAt(bytes.Repeat([]byte{1}, 4096), 2<<20); err != nil {
		t.Fatal(err)
	}
	devs[1].WriteAt(bytes.Repeat([]byte{2}, 4096), 2<<20)
	prev.Raid().Close()
	prev.closeClients()

	e, err := New(ctx, Config{Name: "e", Size: 4 << 20, Replicas: reps, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctl, _ := serve(t, e)
	info := waitState(t, ctl, StateReady)
	if info.Resync == nil || info.Resync.Regions != 1 || info.Resync.Divergent != 1 || !info.Intent.Active || info.Intent.DirtyRegions != 0 {
		t.Fatalf("after activation: resync %+v intent %+v, want one divergent region repaired and a clean active log", info.Resync, info.Intent)
	}
	want := make([]byte, 4096)
	devs[0].ReadAt(want, 2<<20)
	for i, d := range devs {
		got := make([]byte, 4096)
		d.ReadAt(got, 2<<20)
		if !bytes.Equal(got, want) {
			t.Errorf("replica %d differs from replica 0 after the resync", i)
		}
	}
}

// TestStandbyEngineTakesWritesOnlyOnceActivated is the live-upgrade path.
func TestStandbyEngineTakesWritesOnlyOnceActivated(t *testing.T) {
	_, reps := bitmapReplicas(t, 2)
	ctx := context.Background()
	e, err := New(ctx, Config{Name: "e", Size: 4 << 20, Replicas: reps, DialTimeout: 2 * time.Second, Standby: true})
	if err != nil {
		t.Fatal(err)
	}
	ctl, sock := serve(t, e)
	waitState(t, ctl, StateStandby)
	dev, err := nbd.Dial(ctx, "unix", sock, ExportName)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, err := dev.WriteAt(make([]byte, 4096), 0); err == nil {
		t.Fatal("a standby engine took a write")
	}
	if err := ctl.Call(ctx, MethodActivate, ActivateRequest{Mode: "sideways"}, nil); err == nil {
		t.Fatal("activation with an unknown mode succeeded")
	}
	if err := ctl.Call(ctx, MethodActivate, ActivateRequest{Mode: ModeHandover}, nil); err != nil {
		t.Fatal(err)
	}
	if info := waitState(t, ctl, StateReady); info.Resync == nil || info.Resync.Regions != 0 {
		t.Fatalf("handover over agreeing replicas compared regions: %+v", info.Resync)
	}
	if _, err := dev.WriteAt(make([]byte, 4096), 0); err != nil {
		t.Fatalf("write after activation: %v", err)
	}
	if err := ctl.Call(ctx, MethodDeactivate, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.WriteAt(make([]byte, 4096), 0); err == nil {
		t.Fatal("a deactivated engine took a write")
	}
}
