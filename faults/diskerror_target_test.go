package faults

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/target"
)

// nodeList is a fixed node list, for faults aimed at a target served in
// this process.
type nodeList []cluster.Node

func (l nodeList) Nodes() []cluster.Node { return l }

// serveTarget serves a fresh target, with a 4 MiB malloc bdev "disk0" and,
// when layered, EE_disk0 over it, on a Unix socket; it returns the node.
func serveTarget(t *testing.T, layered bool) (*target.Target, cluster.Node) {
	t.Helper()
	tgt := target.New(target.Options{})
	t.Cleanup(func() { tgt.Close() })
	if layered {
		if err := tgt.Call(t.Context(), "bdev_error_create", map[string]any{"base_name": "disk0"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := tgt.Call(t.Context(), "bdev_malloc_create", map[string]any{"name": "disk0", "num_blocks": 8192, "block_size": 512}, nil); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "rpc.sock")
	l, err := jsonrpc.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := jsonrpc.NewServer(nil)
	tgt.Register(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	return tgt, cluster.Node{Name: "n1", Socket: sock}
}

func TestDiskErrorOnATarget(t *testing.T) {
	t.Run("fails the armed writes and counts them", func(t *testing.T) {
		tgt, n := serveTarget(t, true)
		f := DiskError(nodeList{n}, "n1", DiskErrorOptions{Disk: "disk0", Count: 2})
		if err := f.Inject(t.Context()); err != nil {
			t.Fatal(err)
		}
		dev, _ := tgt.Bdev("EE_disk0")
		failed := 0
		for i := range 5 {
			if _, err := dev.WriteAt(make([]byte, 512), int64(i)*512); errors.Is(err, syscall.EIO) {
				failed++
			}
		}
		if failed != 2 {
			t.Errorf("%d of 5 writes failed, want 2", failed)
		}
		if err := f.Heal(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := f.(HealReporter).HealDetail(); d["fired"] != "2" {
			t.Errorf("heal detail %v, want fired=2", d)
		}
	})
	t.Run("heal disarms what has not fired", func(t *testing.T) {
		tgt, n := serveTarget(t, true)
		f := DiskError(nodeList{n}, "n1", DiskErrorOptions{IOType: "all"})
		if err := f.Inject(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := f.Heal(t.Context()); err != nil {
			t.Fatal(err)
		}
		dev, _ := tgt.Bdev("EE_disk0")
		if _, err := dev.WriteAt(make([]byte, 512), 0); err != nil {
			t.Errorf("write after heal: %v", err)
		}
		if d := f.(HealReporter).HealDetail(); d["fired"] != "0" {
			t.Errorf("heal detail %v, want fired=0", d)
		}
	})
	for _, tc := range []struct {
		name    string
		layered bool
		node    string
		o       DiskErrorOptions
		want    error
	}{
		{"node without the layer", false, "n1", DiskErrorOptions{}, ErrNoErrorBdev},
		{"unknown disk", true, "n1", DiskErrorOptions{Disk: "disk9"}, ErrNoErrorBdev},
		{"unknown node", true, "n9", DiskErrorOptions{}, cluster.ErrUnknownNode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n := serveTarget(t, tc.layered)
			f := DiskError(nodeList{n}, tc.node, tc.o)
			if err := f.Inject(t.Context()); !errors.Is(err, tc.want) {
				t.Errorf("Inject: %v, want %v", err, tc.want)
			}
			if err := f.Heal(t.Context()); err != nil {
				t.Errorf("Heal after a failed Inject: %v", err)
			}
		})
	}
}
