package scenarios

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/workload"
)

// frontendServer serves one malloc device as export "vol" on loopback and
// can take the export away and bring it back, as a dying and reattached
// engine does to a volume's frontend.
type frontendServer struct {
	srv  *nbd.Server
	dev  *malloc.Device
	addr string
}

func startFrontend(t *testing.T, ctx context.Context, size int64) *frontendServer {
	t.Helper()
	dev, err := malloc.New(uint64(size/4096), 4096)
	if err != nil {
		t.Fatal(err)
	}
	srv := nbd.NewServer(nil)
	if err := srv.AddExport("vol", dev, nbd.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &frontendServer{srv: srv, dev: dev, addr: l.Addr().String()}
}

func (f *frontendServer) endpoint(context.Context) (string, error) {
	return "nbd://" + f.addr + "/vol", nil
}

// kill removes the export (closing its connections) and publishes the
// same device again.
func (f *frontendServer) kill(t *testing.T) {
	t.Helper()
	if err := f.srv.RemoveExport("vol"); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.AddExport("vol", f.dev, nbd.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
}

// soakTestWorkload writes blocks [first, first+64) of "vol" in order.
func soakTestWorkload(t *testing.T, first int64, writer uint32) *workload.Generator {
	t.Helper()
	g, err := workload.New(workload.Config{
		Volume: "vol", Pattern: workload.Sequential, Offset: first * 4096, Length: 64 * 4096, Count: 64, Writer: writer,
		Classify: workload.UnknownOn(nbd.ErrDisconnected), ErrorBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestReconnectingDevice writes through a frontend that dies between a
// flush and later writes: the device reconnects, the writes after the
// flush become orphans, and the history with orphans made unknown
// accepts losing exactly them where the raw history does not.
func TestReconnectingDevice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const size = 1 << 20
	fe := startFrontend(t, ctx, size)
	dev := newReconnectingDevice(ctx, size, fe.endpoint)
	defer dev.Close()

	flushed, unflushed, after := soakTestWorkload(t, 0, 1), soakTestWorkload(t, 64, 2), soakTestWorkload(t, 128, 3)
	if _, err := flushed.Run(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if err := flushed.Flush(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if _, err := unflushed.Run(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if n := len(dev.Orphaned()); n != 0 {
		t.Fatalf("%d orphans before the frontend died", n)
	}
	fe.kill(t)
	// The first request after the kill finds the connection gone; the
	// workload goes on and the device connects again.
	if _, err := after.Run(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if c := after.History().Counts(); c.OK < 60 || dev.Reconnects() != 2 {
		t.Fatalf("after the kill: counts %+v, %d connections (want 2)", c, dev.Reconnects())
	}
	orphans := dev.Orphaned()
	for _, g := range []*workload.Generator{flushed, unflushed, after} {
		for _, op := range g.History().Ops() {
			if op.Kind != workload.OpWrite || op.Outcome != workload.OK {
				continue
			}
			key := writeKey{op.Writer, op.WriteID}
			if want := g == unflushed; orphans[key] != want || len(orphans) != 64 {
				t.Fatalf("write %+v at %d: orphan %t, want %t (%d orphans, want the 64 unflushed writes)", key, op.Offset, orphans[key], want, len(orphans))
			}
		}
	}
	if err := unflushed.Flush(ctx, dev); err != nil { // on the new connection
		t.Fatal(err)
	}

	// The engine that acknowledged the unflushed writes "lost" one of
	// them: the raw history calls it a lost write, the history with
	// orphans unknown allows it.
	lostAt := int64(100 * 4096)
	if _, err := fe.dev.WriteAt(make([]byte, 4096), lostAt); err != nil {
		t.Fatal(err)
	}
	if v := (history.Checker{}).Check(ctx, unflushed.History(), fe.dev); v.Outcome != checkers.Fail {
		t.Fatalf("raw history: %s %s, want fail (lost write at %d)", v.Outcome, v.Summary, lostAt)
	}
	fixed, err := orphansUnknown(unflushed.History(), orphans)
	if err != nil {
		t.Fatal(err)
	}
	if v := (history.Checker{}).Check(ctx, fixed, fe.dev); v.Outcome != checkers.Pass {
		t.Fatalf("history with orphans unknown: %s %s %+v", v.Outcome, v.Summary, v.Evidence)
	}
	if fc, rc := fixed.Counts(), unflushed.History().Counts(); fc.Unknown != rc.Unknown+64 || fc.Writes != rc.Writes || fc.OK != rc.OK-64 {
		t.Errorf("counts with orphans unknown %+v, raw %+v", fc, rc)
	}
	for _, g := range []*workload.Generator{flushed, after} {
		if v := (history.Checker{}).Check(ctx, g.History(), fe.dev); v.Outcome != checkers.Pass {
			t.Errorf("history of writer %d: %s %s", g.History().Ops()[0].Writer, v.Outcome, v.Summary)
		}
	}
}

// TestReconnectingDeviceWithoutFrontend: while the volume has no endpoint
// every request fails with errNoFrontend (the workload records failed
// writes and backs off), and the device connects once there is one.
func TestReconnectingDeviceWithoutFrontend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fe := startFrontend(t, ctx, 1<<20)
	up := false
	dev := newReconnectingDevice(ctx, 1<<20, func(ctx context.Context) (string, error) {
		if !up {
			return "", errNoFrontend
		}
		return fe.endpoint(ctx)
	})
	defer dev.Close()
	if _, err := dev.WriteAt(make([]byte, 4096), 0); !errors.Is(err, errNoFrontend) {
		t.Fatalf("write without a frontend: %v, want errNoFrontend", err)
	}
	if err := dev.Flush(); !errors.Is(err, errNoFrontend) {
		t.Fatalf("flush without a frontend: %v, want errNoFrontend", err)
	}
	up = true
	if _, err := dev.WriteAt(make([]byte, 4096), 0); err != nil {
		t.Fatalf("write once the frontend is up: %v", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.WriteAt(make([]byte, 4096), 0); !errors.Is(err, errNoFrontend) {
		t.Fatalf("write after Close: %v, want errNoFrontend", err)
	}
}

// blockingDevice is a device whose writes wait for a token, so a test
// controls exactly when a request is in flight.
type blockingDevice struct {
	started chan struct{}
	proceed chan struct{}
}

func (d blockingDevice) WriteAt(p []byte, off int64) (int, error) {
	d.started <- struct{}{}
	<-d.proceed
	return len(p), nil
}
func (d blockingDevice) Flush() error { return nil }
func (d blockingDevice) Size() int64  { return 1 << 20 }

// TestWriteGate: hold waits for the request in flight, blocks new ones
// until release, and lets them through afterwards.
func TestWriteGate(t *testing.T) {
	inner := blockingDevice{started: make(chan struct{}), proceed: make(chan struct{})}
	gate := newWriteGate()
	dev := gatedDevice{gate: gate, dev: inner}
	done := make(chan int, 2)
	write := func(i int) {
		dev.WriteAt(make([]byte, 4096), 0)
		done <- i
	}
	go write(1)
	<-inner.started // request 1 is in flight
	held := make(chan struct{})
	go func() { gate.hold(); close(held) }()
	select {
	case <-held:
		t.Fatal("hold returned with a request in flight")
	case <-time.After(50 * time.Millisecond):
	}
	inner.proceed <- struct{}{}
	if i := <-done; i != 1 {
		t.Fatalf("request %d finished first", i)
	}
	<-held
	go write(2)
	select {
	case <-inner.started:
		t.Fatal("a request passed a held gate")
	case <-time.After(50 * time.Millisecond):
	}
	gate.release()
	<-inner.started
	inner.proceed <- struct{}{}
	if i := <-done; i != 2 {
		t.Fatalf("request %d finished, want 2", i)
	}
}
