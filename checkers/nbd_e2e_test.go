package checkers_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/workload"
)

// TestWorkloadOverNBD serves a file over refengine's NBD server, drives
// the workload through the real NBD client, checks the result through the
// client, then kills the server under a running workload: the writes that
// lost their connection must be recorded as unknown and the history must
// still check clean on the file.
func TestWorkloadOverNBD(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	disk, err := aio.Open(filepath.Join(t.TempDir(), "vol.img"), aio.Options{Create: true, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()

	srv := nbd.NewServer(nil)
	if err := srv.AddExport("vol-nbd", disk, nbd.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	defer func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	client, err := nbd.Dial(ctx, "tcp", l.Addr().String(), "vol-nbd")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	g, err := workload.New(workload.Config{
		Volume: "vol-nbd", Pattern: workload.Hotspot, Concurrency: 4, Count: 400, FlushEvery: 50, Seed: 3,
		Classify: workload.UnknownOn(nbd.ErrDisconnected), ErrorBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.Run(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx, client); err != nil {
		t.Fatal(err)
	}
	if c := h.Counts(); c.OK != c.Writes+c.Flushes || c.Writes != 400 {
		t.Fatalf("clean phase counts %+v", c)
	}
	check := func(what string, v checkers.Verdict, want checkers.Outcome) {
		t.Helper()
		if v.Outcome != want {
			t.Fatalf("%s: %s, want %s: %s %+v", what, v.Outcome, want, v.Summary, v.Evidence)
		}
	}
	check("history through NBD", history.Checker{}.Check(ctx, h, client), checkers.Pass)
	check("stable through NBD", checksum.Checker{}.Stable(ctx, client, 2), checkers.Pass)
	check("NBD equals the file", checksum.Checker{}.ReplicasEqual(ctx, map[string]checkers.Device{"nbd": client, "file": disk}), checkers.Pass)

	// Run the same workload again and kill the server from inside its
	// 50th write: the writes after it lose their connection.
	killer := &killAfter{Device: client, after: 50, kill: func() { srv.Close() }}
	if _, err := g.Run(ctx, killer); err != nil {
		t.Fatal(err)
	}
	c := h.Counts()
	if c.Unknown == 0 || c.Failed != 0 || c.Pending != 0 {
		t.Fatalf("after the server died: %+v (disconnects must be unknown, not failed)", c)
	}
	check("history on the file after the crash", history.Checker{}.Check(ctx, h, disk), checkers.Pass)
	check("unreachable volume", checksum.Checker{}.Stable(ctx, client, 2), checkers.Unknown)

	// The same history catches a damaged block on the file.
	var off int64 = -1
	for _, op := range h.Ops() {
		if op.Kind == workload.OpWrite && op.Outcome == workload.OK {
			off = op.Offset
			break
		}
	}
	b := make([]byte, workload.DefaultBlock)
	if _, err := disk.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff
	if _, err := disk.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	check("damaged block", history.Checker{}.Check(ctx, h, disk), checkers.Fail)
}

// killAfter calls kill before passing on write number after+1.
type killAfter struct {
	workload.Device
	after int
	kill  func()

	mu     sync.Mutex
	writes int
}

func (d *killAfter) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	d.writes++
	if d.writes == d.after+1 {
		d.kill()
	}
	d.mu.Unlock()
	return d.Device.WriteAt(p, off)
}
