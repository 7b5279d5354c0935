package target

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/internal/fiojson"
	"github.com/faultline/faultline/internal/testtool"
)

// requireFio returns fio's path, skipping (failing under CI=true) when fio
// or its nbd engine is missing.
func requireFio(t *testing.T) string {
	t.Helper()
	if refengineBin == "" {
		t.Skip("fio interop: runs real processes (skipped with -short)")
	}
	return testtool.RequireFioNBD(t)
}

// fioVerifyCmd writes size bytes of random 4 KiB blocks with crc32c
// headers into an NBD export and reads them all back verifying each.
func fioVerifyCmd(ctx context.Context, fio, addr, export string, size int, extra ...string) *exec.Cmd {
	args := []string{
		"--name=verify", "--ioengine=nbd", fmt.Sprintf("--uri=nbd://%s/%s", addr, export),
		"--rw=randwrite", "--bs=4k", "--iodepth=16", fmt.Sprintf("--size=%d", size),
		"--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--output-format=json",
	}
	return exec.CommandContext(ctx, fio, append(args, extra...)...)
}

// checkFio parses fio's output and asserts that every job wrote size
// bytes, read them all back to verify, and reported no error.
func checkFio(t *testing.T, out []byte, runErr error, size int) {
	t.Helper()
	res, err := fiojson.Parse(out)
	if err != nil {
		t.Fatalf("fio (%v): %v\n%s", runErr, err, out)
	}
	if runErr != nil {
		t.Errorf("fio: %v", runErr)
	}
	if len(res.Jobs) == 0 {
		t.Fatal("fio reported no jobs")
	}
	for _, j := range res.Jobs {
		if err := j.Verified(int64(size)); err != nil {
			t.Error(err)
		}
	}
}

// lvolNode starts a node with lvstore lvs0 (1 MiB clusters) and one thin
// lvol of sizeMiB.
func lvolNode(t *testing.T, name, lvol string, sizeMiB int) (*node, *jsonrpc.Client) {
	t.Helper()
	n := startNode(t, name, t.TempDir())
	c := n.client(context.Background())
	call(t, c, "bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, nil)
	call(t, c, "bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": lvol, "size_in_mib": sizeMiB, "thin_provision": true}, nil)
	return n, c
}

func TestFioLvolExport(t *testing.T) {
	fio := requireFio(t)
	n, c := lvolNode(t, "n1", "vol", 32)
	call(t, c, "nbd_export_start", map[string]any{"bdev_name": "lvs0/vol", "export_name": "vol"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const size = 16 << 20
	out, err := fioVerifyCmd(ctx, fio, n.nbdAddr, "vol", size).Output()
	checkFio(t, out, err, size)
}

// raidOverTwoNodes builds, on node A, raid1 "r" over a local lvol and node
// B's lvol attached as remote bdev "remote", exported as "vol".
func raidOverTwoNodes(t *testing.T) (a *node, ca *jsonrpc.Client, b *node) {
	b, cb := lvolNode(t, "b", "replica", 32)
	call(t, cb, "nbd_export_start", map[string]any{"bdev_name": "lvs0/replica", "export_name": "replica"}, nil)
	a, ca = lvolNode(t, "a", "local", 32)
	call(t, ca, "bdev_remote_attach", map[string]any{"name": "remote", "address": b.nbdAddr, "export_name": "replica"}, nil)
	call(t, ca, "bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "strip_size_kb": 0, "base_bdevs": []string{"lvs0/local", "remote"}}, nil)
	call(t, ca, "nbd_export_start", map[string]any{"bdev_name": "r", "export_name": "vol"}, nil)
	return a, ca, b
}

func TestFioRaid1LocalAndRemote(t *testing.T) {
	fio := requireFio(t)
	a, ca, b := raidOverTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const size = 16 << 20
	out, err := fioVerifyCmd(ctx, fio, a.nbdAddr, "vol", size).Output()
	checkFio(t, out, err, size)

	// Both replicas hold the same bytes.
	call(t, ca, "nbd_export_start", map[string]any{"bdev_name": "lvs0/local", "export_name": "local-ro", "read_only": true}, nil)
	local := readExport(t, a.nbdAddr, "local-ro", 0, size)
	remote := readExport(t, b.nbdAddr, "replica", 0, size)
	if !bytes.Equal(local, remote) {
		t.Error("local and remote replicas differ after fio")
	}
	if bytes.Equal(local, make([]byte, size)) {
		t.Error("replicas are all zeros: fio wrote nothing through the raid")
	}
}

// TestFioRaid1MemberRemovedMidRun removes the remote member while fio is
// writing; the write and the verify phase still pass on the survivor.
func TestFioRaid1MemberRemovedMidRun(t *testing.T) {
	fio := requireFio(t)
	a, ca, _ := raidOverTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const size = 24 << 20
	// Writes are rate-limited so the run spans the removal (about 3 s of
	// writing); fio's result, not the timing, decides the test.
	cmd := fioVerifyCmd(ctx, fio, a.nbdAddr, "vol", size, "--rate=,8m")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	finished := make(chan error, 1)
	go func() { finished <- cmd.Wait() }()

	// fio is running once it holds a connection to the export.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for connected := false; !connected; {
		select {
		case err := <-finished:
			t.Fatalf("fio exited before connecting: %v\n%s", err, stdout.String())
		case <-ctx.Done():
			t.Fatal("fio never connected")
		case <-tick.C:
		}
		var exports []struct {
			ExportName  string `json:"export_name"`
			Connections int    `json:"connections"`
		}
		call(t, ca, "nbd_get_exports", nil, &exports)
		for _, e := range exports {
			connected = connected || (e.ExportName == "vol" && e.Connections > 0)
		}
	}
	call(t, ca, "bdev_raid_remove_base_bdev", map[string]any{"name": "remote"}, nil)
	select {
	case <-finished:
		t.Fatal("fio had finished before the member was removed: the test proved nothing")
	default:
	}
	var raids []struct {
		NumBaseBdevs int `json:"num_base_bdevs"`
		Discovered   int `json:"num_base_bdevs_discovered"`
	}
	call(t, ca, "bdev_raid_get_bdevs", map[string]any{"category": "online"}, &raids)
	// SPDK keeps the removed member's slot, empty.
	if len(raids) != 1 || raids[0].NumBaseBdevs != 2 || raids[0].Discovered != 1 {
		t.Errorf("raid after removal = %+v, want online with 1 of 2 slots filled", raids)
	}
	err := <-finished
	checkFio(t, stdout.Bytes(), err, size)
}
