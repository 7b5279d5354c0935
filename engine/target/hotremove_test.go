package target

import (
	"bytes"
	"encoding/json"
	"testing"
)

// raidSlots returns the member names of raid r from bdev_raid_get_bdevs
// ("" for an empty slot), and whether r is listed at all.
func (fx *fixture) raidSlots(r string) ([]string, bool) {
	fx.t.Helper()
	var raids []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Num   int    `json:"num_base_bdevs"`
		List  []struct {
			Name *string `json:"name"`
		} `json:"base_bdevs_list"`
	}
	fx.must("bdev_raid_get_bdevs", map[string]any{"category": "all"}, &raids)
	for _, raid := range raids {
		if raid.Name != r {
			continue
		}
		out := make([]string, len(raid.List))
		for i, e := range raid.List {
			if e.Name != nil {
				out[i] = *e.Name
			}
		}
		return out, true
	}
	return nil, false
}

// TestDeleteClaimedBdevHotRemoves: deleting a bdev something holds
// succeeds and the holder lets go, as SPDK's unregister does through the
// remove event (lib/bdev/bdev.c; module/bdev/raid/bdev_raid.c
// raid_bdev_remove_base_bdev; lib/nbd/nbd.c; module/bdev/lvol/vbdev_lvol.c
// vbdev_lvs_hotremove_cb).
func TestDeleteClaimedBdevHotRemoves(t *testing.T) {
	raidOver := func(members ...string) func(fx *fixture) {
		return func(fx *fixture) {
			fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": members}, nil)
			fx.write("r", 0, pattern(9, 64<<10))
		}
	}
	tests := []struct {
		name      string
		setup     func(fx *fixture)
		method    string
		params    map[string]any
		wantSlots []string // nil: the raid is gone
		check     func(t *testing.T, fx *fixture)
	}{
		{
			name:      "malloc raid member",
			setup:     raidOver("lvs0/a", "m1"),
			method:    "bdev_malloc_delete",
			params:    map[string]any{"name": "m1"},
			wantSlots: []string{"lvs0/a", ""},
		},
		{
			name:      "lvol raid member",
			setup:     raidOver("lvs0/a", "m1"),
			method:    "bdev_lvol_delete",
			params:    map[string]any{"name": "lvs0/a"},
			wantSlots: []string{"", "m1"},
		},
		{
			name: "both members, one after the other",
			setup: func(fx *fixture) {
				raidOver("lvs0/a", "m1")(fx)
				fx.must("bdev_malloc_delete", map[string]any{"name": "m1"}, nil)
			},
			method: "bdev_lvol_delete",
			params: map[string]any{"name": "lvs0/a"},
		},
		{
			name:   "lvstore holding both members",
			setup:  raidOver("lvs0/a", "lvs0/b"),
			method: "bdev_lvol_delete_lvstore",
			params: map[string]any{"lvs_name": "lvs0"},
		},
		{
			name:      "lvstore holding one member",
			setup:     raidOver("lvs0/a", "m1"),
			method:    "bdev_lvol_delete_lvstore",
			params:    map[string]any{"lvs_name": "lvs0"},
			wantSlots: []string{"", "m1"},
		},
		{
			name:   "aio disk under the lvstore holding both members",
			setup:  raidOver("lvs0/a", "lvs0/b"),
			method: "bdev_aio_delete",
			params: map[string]any{"name": "disk0"},
			check: func(t *testing.T, fx *fixture) {
				// Unloaded, not destroyed: the disk brings the lvols back.
				fx.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": fx.disk, "block_size": 512}, nil)
				if b := fx.bdev("lvs0/a"); b.Claimed {
					t.Errorf("lvs0/a claimed after the disk came back: %+v", b)
				}
			},
		},
		{
			name: "exported lvol",
			setup: func(fx *fixture) {
				fx.must("nbd_export_start", map[string]any{"bdev_name": "lvs0/a", "export_name": "a"}, nil)
			},
			method: "bdev_lvol_delete",
			params: map[string]any{"name": "lvs0/a"},
			check: func(t *testing.T, fx *fixture) {
				var exports []map[string]any
				fx.must("nbd_get_exports", nil, &exports)
				if len(exports) != 0 {
					t.Errorf("exports after deleting their lvol: %v", exports)
				}
			},
		},
		{
			name: "raid with an export, an lvstore on a member's disk",
			setup: func(fx *fixture) {
				raidOver("lvs0/a", "m1")(fx)
				fx.must("nbd_export_start", map[string]any{"bdev_name": "r", "export_name": "vol"}, nil)
				fx.must("bdev_malloc_delete", map[string]any{"name": "m1"}, nil)
			},
			method: "bdev_aio_delete",
			params: map[string]any{"name": "disk0"},
			check: func(t *testing.T, fx *fixture) {
				var exports []map[string]any
				fx.must("nbd_get_exports", nil, &exports)
				if len(exports) != 0 {
					t.Errorf("exports after their raid went: %v", exports)
				}
			},
		},
		{
			name: "member of a raid still configuring",
			setup: func(fx *fixture) {
				fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1", "later"}}, nil)
			},
			method:    "bdev_malloc_delete",
			params:    map[string]any{"name": "m1"},
			wantSlots: []string{"", "later"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, true)
			fx.lvol("a", 4)
			fx.lvol("b", 4)
			fx.must("bdev_malloc_create", map[string]any{"name": "m1", "num_blocks": 8192, "block_size": 512}, nil)
			tt.setup(fx)
			fx.must(tt.method, tt.params, nil)

			got, listed := fx.raidSlots("r")
			if tt.wantSlots == nil {
				if listed {
					t.Errorf("raid r still listed with slots %q", got)
				}
				if _, ok := fx.tgt.Bdev("r"); ok {
					t.Error("raid bdev r still exists")
				}
			} else {
				if !listed || !slicesEqual(got, tt.wantSlots) {
					t.Errorf("raid r slots = %q (listed %v), want %q", got, listed, tt.wantSlots)
				}
				if _, ok := fx.tgt.Bdev("r"); ok && tt.name != "member of a raid still configuring" {
					// The member left serves the data written before.
					if !bytes.Equal(fx.read("r", 0, 64<<10), pattern(9, 64<<10)) {
						t.Error("the remaining member does not serve the raid's data")
					}
				}
			}
			if tt.check != nil {
				tt.check(t, fx)
			}
		})
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeleteExternalSnapshotRefused: the one holder that does not let go.
// SPDK's lvol module ignores the remove event of an esnap clone's external
// snapshot (vbdev_lvol_esnap_bdev_event_cb), so SPDK's delete would wait
// for the clone; refengine answers -16 and changes nothing, also when the
// external snapshot is an lvol of an lvstore being deleted.
func TestDeleteExternalSnapshotRefused(t *testing.T) {
	fx := newFixture(t, true)
	const extUUID = "0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d12"
	fx.must("bdev_malloc_create", map[string]any{"name": "ext", "num_blocks": 8192, "block_size": 512, "uuid": extUUID}, nil)
	fx.must("bdev_lvol_clone_bdev", map[string]any{"bdev": "ext", "lvs_name": "lvs0", "clone_name": "esc"}, nil)
	if code, _, _ := rpcCode(fx.call("bdev_malloc_delete", map[string]any{"name": "ext"}, nil)); code != -16 {
		t.Errorf("bdev_malloc_delete of an external snapshot: code %d, want -16", code)
	}
	if _, ok := fx.tgt.Bdev("ext"); !ok {
		t.Error("the external snapshot went anyway")
	}
	var lvols []json.RawMessage
	fx.must("bdev_lvol_get_lvols", nil, &lvols)
	if len(lvols) != 1 {
		t.Errorf("lvols: %d, want the esnap clone", len(lvols))
	}
}
