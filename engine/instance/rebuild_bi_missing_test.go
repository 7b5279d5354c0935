package instance_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// TestRebuildPrepareWithoutImage: a rebuild destination whose disk holds
// no copy of the source chain's backing image must refuse to prepare the
// copy target, naming the image, rather than make a parentless lvol that
// would read zeros where the image has data (seed 004's failure mode). With
// rebuild-bi-parent-by-full-name it does make one: the test shows both.
func TestRebuildPrepareWithoutImage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		defects []string
		wantErr string // "" means: prepare succeeds and the lvol has no parent
	}{
		{"clean", nil, "has no copy"},
		{"defect", []string{"rebuild-bi-parent-by-full-name"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, 1, tc.defects...)
			cl.createVolume("vol1", 1)
			cl.attach("vol1", "n1")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			reps, err := cl.c.ListReplicas(ctx, "vol1")
			if err != nil || len(reps) != 1 {
				t.Fatalf("replicas: %+v %v", reps, err)
			}
			rep := reps[0]
			rpc, err := jsonrpc.Dial(ctx, "unix", filepath.Join(cl.dir, "n1", "rpc.sock"))
			if err != nil {
				t.Fatal(err)
			}
			defer rpc.Close()
			// The source's copy of an image this disk never had.
			base := "bi-img1-disk-00000000-0000-0000-0000-000000000001"
			var export string
			err = rpc.Call(ctx, "im_rebuild_dst_prepare", map[string]any{"replica": rep.Name, "source_base": base}, &export)
			rebuilding := rep.Name + "-rebuilding"
			parent, exists := lvolParent(ctx, t, rpc, rebuilding)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "img1") {
					t.Fatalf("prepare without the image = %q, %v; want an error naming img1 and containing %q", export, err, tc.wantErr)
				}
				if exists {
					t.Fatalf("failed prepare left %s behind", rebuilding)
				}
				return
			}
			if err != nil || !exists || parent != "" {
				t.Fatalf("defect: prepare = %q, %v; lvol %s exists %t with parent %q; want a parentless lvol", export, err, rebuilding, exists, parent)
			}
		})
	}
}

// lvolParent returns an lvol's base snapshot and whether it exists.
func lvolParent(ctx context.Context, t *testing.T, rpc *jsonrpc.Client, name string) (string, bool) {
	t.Helper()
	var bdevs []struct {
		Aliases []string `json:"aliases"`
		Driver  struct {
			Lvol *struct {
				BaseSnapshot string `json:"base_snapshot"`
			} `json:"lvol"`
		} `json:"driver_specific"`
	}
	if err := rpc.Call(ctx, "bdev_get_bdevs", nil, &bdevs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bdevs {
		for _, a := range b.Aliases {
			if _, n, ok := strings.Cut(a, "/"); ok && n == name && b.Driver.Lvol != nil {
				return b.Driver.Lvol.BaseSnapshot, true
			}
		}
	}
	return "", false
}
