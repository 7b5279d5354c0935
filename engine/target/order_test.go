package target

import (
	"slices"
	"testing"
)

// TestCreationOrder checks that bdev_get_bdevs, bdev_lvol_get_lvols and an
// lvol's clones list in creation order, as SPDK does: lib/bdev/bdev.c
// appends each registered bdev to its list and bdev_get_bdevs
// (lib/bdev/bdev_rpc.c) walks it; lib/blob/blobstore.c appends clones to a
// snapshot's list, which module/bdev/lvol/vbdev_lvol.c dumps as "clones".
func TestCreationOrder(t *testing.T) {
	fx := newFixture(t, true)
	name := map[string]string{}
	for _, n := range []string{"b", "a"} {
		name[fx.lvol(n, 4)] = n
	}
	fx.must("bdev_malloc_create", map[string]any{"name": "m0", "num_blocks": 2048, "block_size": 512}, nil)
	name[fx.lvol("c", 4)] = "c"
	var snap string
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/b", "snapshot_name": "s"}, &snap)
	name[snap] = "s"
	for _, n := range []string{"z", "y"} {
		var id string
		fx.must("bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/s", "clone_name": n}, &id)
		name[id] = n
	}

	check := func(fx *fixture, wantBdevs []string) {
		t.Helper()
		var bdevs []struct {
			Name           string
			DriverSpecific struct {
				Lvol *struct {
					Clones []string `json:"clones"`
				} `json:"lvol"`
			} `json:"driver_specific"`
		}
		fx.must("bdev_get_bdevs", nil, &bdevs)
		var got []string
		for _, b := range bdevs {
			n, ok := name[b.Name]
			if !ok {
				n = b.Name
			}
			got = append(got, n)
			if n == "s" && !slices.Equal(b.DriverSpecific.Lvol.Clones, []string{"b", "z", "y"}) {
				t.Errorf("clones of s = %v, want [b z y]", b.DriverSpecific.Lvol.Clones)
			}
		}
		if !slices.Equal(got, wantBdevs) {
			t.Errorf("bdev_get_bdevs order = %v, want %v", got, wantBdevs)
		}
		var lvols []struct{ Name string }
		fx.must("bdev_lvol_get_lvols", nil, &lvols)
		got = nil
		for _, l := range lvols {
			got = append(got, l.Name)
		}
		if want := []string{"b", "a", "c", "s", "z", "y"}; !slices.Equal(got, want) {
			t.Errorf("bdev_lvol_get_lvols order = %v, want %v", got, want)
		}
	}
	check(fx, []string{"disk0", "b", "a", "m0", "c", "s", "z", "y"})

	// After a restart the lvols come back in the order they were created.
	if err := fx.tgt.Close(); err != nil {
		t.Fatal(err)
	}
	fx2 := &fixture{t: t, tgt: New(Options{}), disk: fx.disk}
	t.Cleanup(func() { fx2.tgt.Close() })
	fx2.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": fx.disk, "block_size": 512}, nil)
	check(fx2, []string{"disk0", "b", "a", "c", "s", "z", "y"})
}
