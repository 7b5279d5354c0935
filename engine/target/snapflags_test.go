package target

import "testing"

// TestSnapshotFlags checks is_snapshot and is_thin_provisioned against
// SPDK: a blob is a snapshot when it has clones (lib/blob/blobstore.c
// spdk_blob_is_snapshot), so a read-only lvol becomes one when cloned; a
// snapshot takes its origin's flags, thin provisioning included
// (bs_snapshot_freeze_cpl copies invalid_flags), and the origin becomes
// thin; module/bdev/lvol/vbdev_lvol_rpc.c prints both per lvol.
func TestSnapshotFlags(t *testing.T) {
	fx := newFixture(t, true)
	fx.must("bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "thick", "size_in_mib": 2}, nil)
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/thick", "snapshot_name": "thick-snap"}, nil)
	fx.lvol("ro", 2)
	fx.must("bdev_lvol_set_read_only", map[string]any{"name": "lvs0/ro"}, nil)

	type flags struct{ snapshot, thin bool }
	get := func() map[string]flags {
		var lvols []struct {
			Name     string `json:"name"`
			Snapshot bool   `json:"is_snapshot"`
			Thin     bool   `json:"is_thin_provisioned"`
		}
		fx.must("bdev_lvol_get_lvols", nil, &lvols)
		out := map[string]flags{}
		for _, l := range lvols {
			out[l.Name] = flags{l.Snapshot, l.Thin}
		}
		return out
	}
	check := func(when string, want map[string]flags) {
		t.Helper()
		got := get()
		for n, w := range want {
			if got[n] != w {
				t.Errorf("%s: %s = %+v, want %+v", when, n, got[n], w)
			}
		}
	}
	check("before clone", map[string]flags{
		"thick-snap": {snapshot: true, thin: false},
		"thick":      {snapshot: false, thin: true},
		"ro":         {snapshot: false, thin: true},
	})
	fx.must("bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/ro", "clone_name": "c"}, nil)
	check("after clone", map[string]flags{"ro": {snapshot: true, thin: true}, "c": {snapshot: false, thin: true}})
	if b := fx.bdev("lvs0/ro"); !b.DriverSpecific.Lvol.Snapshot {
		t.Errorf("bdev_get_bdevs: ro is not a snapshot after a clone: %+v", b.DriverSpecific.Lvol)
	}
}
