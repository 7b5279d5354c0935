package local

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
)

func TestDiskArgs(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []string
	}{
		{1, []string{"--disk", "disk0=/d/disk0.img:1048576"}},
		{2, []string{"--disk", "disk0=/d/disk0.img:1048576", "--disk", "disk1=/d/disk1.img:1048576"}},
	} {
		if got := diskArgs("/d", tc.n, 1<<20); !slices.Equal(got, tc.want) {
			t.Errorf("diskArgs(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestTwoDisksPerNode: every node reports each of its disks to the manager,
// each with an lvstore of its own.
func TestTwoDisksPerNode(t *testing.T) {
	requireCluster(t)
	d, err := New(Config{Dir: t.TempDir(), Refengine: refengine, Nodes: 1, DiskSize: 64 << 20, DisksPerNode: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := d.Up(ctx); err != nil {
		t.Fatalf("up: %v\n%s", err, allTails(d))
	}
	t.Cleanup(func() { d.Down(context.Background()) })
	c, err := cluster.ManagerClient(d)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for {
		n, err := c.GetNode(ctx, "node-1")
		uuids := map[string]bool{}
		var names []string
		for _, disk := range n.Status.Disks {
			if disk.LvstoreUUID != "" {
				uuids[disk.LvstoreUUID] = true
				names = append(names, disk.Name)
			}
		}
		slices.Sort(names)
		if err == nil && n.Status.State == api.NodeUp && len(uuids) == 2 && slices.Equal(names, []string{"disk0", "disk1"}) {
			return
		}
		last = fmt.Sprintf("%+v %v", n.Status, err)
		select {
		case <-ctx.Done():
			t.Fatalf("node-1 never reported disk0 and disk1 with an lvstore each; last: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
