package target

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestRaidReplyShape checks bdev_raid_get_bdevs and the raid's
// driver_specific against what SPDK sends: module/bdev/raid/bdev_raid.c
// (raid_bdev_write_info_json, raid_bdev_free_base_bdev_resource,
// raid_bdev_add_base_bdev) and module/bdev/raid/bdev_raid_rpc.c
// (rpc_bdev_raid_create's decoder, with the fork's delta_bitmap) of
// longhorn/spdk, branch longhorn-v24.09.
func TestRaidReplyShape(t *testing.T) {
	type slot struct {
		Name         *string `json:"name"`
		UUID         string  `json:"uuid"`
		IsConfigured bool    `json:"is_configured"`
	}
	const raidUUID = "2f5d3b6e-8c1a-4f7e-9b2d-0a1b2c3d4e5f"
	tests := []struct {
		name        string
		deltaBitmap bool
		remove      string // member to remove before looking, or ""
		add         string // bdev to add after the remove, or ""
		wantNames   []any  // nil stands for JSON null
		wantConf    []bool
		wantDisc    int
		wantOper    int
	}{
		{"names as passed, delta bitmap on", true, "", "", []any{"lvs0/a", "m1"}, []bool{true, true}, 2, 2},
		{"remove keeps an empty slot", false, "lvs0/a", "", []any{nil, "m1"}, []bool{false, true}, 1, 1},
		{"add fills the empty slot", false, "lvs0/a", "lvs0/b", []any{"lvs0/b", "m1"}, []bool{true, true}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, true)
			fx.lvol("a", 4)
			fx.lvol("b", 4)
			// An optimal I/O boundary, which the fork's delta bitmap needs
			// (module/bdev/raid/raid1.c raid1_start).
			fx.must("bdev_malloc_create", map[string]any{"name": "m1", "num_blocks": 4 * 2048, "block_size": 512, "optimal_io_boundary": 2048}, nil)
			// rpc.py of the fork always sends delta_bitmap and superblock.
			fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "strip_size_kb": 0, "uuid": raidUUID,
				"base_bdevs": []string{"lvs0/a", "m1"}, "superblock": false, "delta_bitmap": tt.deltaBitmap}, nil)
			if tt.remove != "" {
				fx.must("bdev_raid_remove_base_bdev", map[string]any{"name": tt.remove}, nil)
			}
			if tt.add != "" {
				// write_only (refengine's extension) holds the rebuild
				// back, so the counts are those of a member not yet in sync.
				fx.must("bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": tt.add, "write_only": true}, nil)
			}
			var raids []map[string]json.RawMessage
			fx.must("bdev_raid_get_bdevs", map[string]any{"category": "all"}, &raids)
			if len(raids) != 1 {
				t.Fatalf("raids: %d", len(raids))
			}
			var bdevs []struct {
				Driver struct {
					Raid map[string]json.RawMessage `json:"raid"`
				} `json:"driver_specific"`
			}
			fx.must("bdev_get_bdevs", map[string]any{"name": "r"}, &bdevs)
			ds := bdevs[0].Driver.Raid
			for label, r := range map[string]map[string]json.RawMessage{"bdev_raid_get_bdevs": raids[0], "driver_specific.raid": ds} {
				var got struct {
					UUID        string `json:"uuid"`
					Num         int    `json:"num_base_bdevs"`
					Disc        int    `json:"num_base_bdevs_discovered"`
					Oper        int    `json:"num_base_bdevs_operational"`
					DeltaBitmap *bool  `json:"delta_bitmap_enabled"`
					List        []map[string]json.RawMessage
				}
				raw, _ := json.Marshal(r)
				if err := json.Unmarshal(raw, &got); err != nil {
					t.Fatal(err)
				}
				_ = json.Unmarshal(r["base_bdevs_list"], &got.List)
				if got.UUID != raidUUID {
					t.Errorf("%s uuid = %q, want %q", label, got.UUID, raidUUID)
				}
				if got.DeltaBitmap == nil || *got.DeltaBitmap != tt.deltaBitmap {
					t.Errorf("%s delta_bitmap_enabled = %v, want %v", label, got.DeltaBitmap, tt.deltaBitmap)
				}
				if got.Num != 2 || got.Disc != tt.wantDisc || got.Oper != tt.wantOper {
					t.Errorf("%s counts = %d/%d/%d, want 2/%d/%d", label, got.Num, got.Disc, got.Oper, tt.wantDisc, tt.wantOper)
				}
				if len(got.List) != 2 {
					t.Fatalf("%s base_bdevs_list: %d entries", label, len(got.List))
				}
				for i, e := range got.List {
					var s slot
					raw, _ := json.Marshal(e)
					_ = json.Unmarshal(raw, &s)
					var name any
					if s.Name != nil {
						name = *s.Name
					}
					if !reflect.DeepEqual(name, tt.wantNames[i]) || s.IsConfigured != tt.wantConf[i] {
						t.Errorf("%s slot %d = %v configured %v, want %v %v", label, i, name, s.IsConfigured, tt.wantNames[i], tt.wantConf[i])
					}
					if name == nil && s.UUID != zeroUUID {
						t.Errorf("%s empty slot uuid = %q", label, s.UUID)
					}
					if string(e["delta_bitmap_state"]) != `"none"` {
						t.Errorf("%s slot %d delta_bitmap_state = %s", label, i, e["delta_bitmap_state"])
					}
					if _, ok := e["state"]; ok {
						t.Errorf("%s slot %d carries refengine's state, which SPDK does not send", label, i)
					}
				}
			}
			if _, ok := ds["name"]; ok {
				t.Error("driver_specific.raid has a name; SPDK's has none")
			}
		})
	}
}

// TestRaidGrowServesAtOnce: SPDK's bdev_raid_grow_base_bdev adds the
// member with skip_rebuild (module/bdev/raid/bdev_raid.c,
// raid_bdev_grow_base_bdev_on_quiesced, longhorn/spdk longhorn-v24.09),
// so it is operational at once: removing the original member leaves the
// raid online, reading from the grown one.
func TestRaidGrowServesAtOnce(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("a", 4)
	fx.lvol("b", 4)
	fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"lvs0/a"}}, nil)
	data := pattern(7, 64<<10)
	fx.write("lvs0/b", 0, data) // stands for data already in sync
	fx.must("bdev_raid_grow_base_bdev", map[string]any{"raid_name": "r", "base_name": "lvs0/b"}, nil)
	fx.must("bdev_raid_grow_base_bdev", map[string]any{"raid_name": "r", "base_name": "lvs0/b"}, nil) // a member already: true
	fx.must("bdev_raid_remove_base_bdev", map[string]any{"name": "lvs0/a"}, nil)
	var raids []struct {
		Num  int `json:"num_base_bdevs"`
		Oper int `json:"num_base_bdevs_operational"`
	}
	fx.must("bdev_raid_get_bdevs", map[string]any{"category": "online"}, &raids)
	if len(raids) != 1 || raids[0].Num != 2 || raids[0].Oper != 1 {
		t.Fatalf("online raids after grow and remove = %+v, want r with 1 of 2 operational", raids)
	}
	if got := fx.read("r", 0, len(data)); !bytes.Equal(got, data) {
		t.Error("raid does not read from the grown member")
	}
}

// TestRaidWaitsForBaseBdevs: bdev_raid_create with a base bdev that does
// not exist yet answers true and leaves the raid "configuring", with no
// bdev, until the bdev is registered (module/bdev/raid/bdev_raid_rpc.c
// rpc_bdev_raid_create, module/bdev/raid/bdev_raid.c
// raid_bdev_examine_no_sb, longhorn/spdk longhorn-v24.09).
func TestRaidWaitsForBaseBdevs(t *testing.T) {
	type info struct {
		Name  string `json:"name"`
		UUID  string `json:"uuid"`
		State string `json:"state"`
		Disc  int    `json:"num_base_bdevs_discovered"`
		Oper  int    `json:"num_base_bdevs_operational"`
		List  []struct {
			Name         *string `json:"name"`
			IsConfigured bool    `json:"is_configured"`
		} `json:"base_bdevs_list"`
	}
	malloc := func(name string) map[string]any {
		return map[string]any{"name": name, "num_blocks": 4 * 2048, "block_size": 512}
	}
	tests := []struct {
		name      string
		then      []step // calls after the create, before the check
		wantState string // "" when the raid is gone
		wantDisc  int
		wantClaim bool // m1 still claimed
	}{
		{"waits", nil, "configuring", 1, true},
		{"comes online when the bdev appears", []step{{"bdev_malloc_create", malloc("m2")}}, "online", 2, true},
		{"delete while waiting", []step{{"bdev_raid_delete", map[string]any{"name": "r"}}}, "", 0, false},
		{"remove while waiting", []step{{"bdev_raid_remove_base_bdev", map[string]any{"name": "m1"}}, {"bdev_malloc_create", malloc("m2")}}, "configuring", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, false)
			fx.must("bdev_malloc_create", malloc("m1"), nil)
			fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1", "m2"}, "superblock": false, "delta_bitmap": false}, nil)
			for _, s := range tt.then {
				fx.must(s.method, s.params, nil)
			}
			var all []info
			fx.must("bdev_raid_get_bdevs", map[string]any{"category": "all"}, &all)
			err := fx.call("bdev_get_bdevs", map[string]any{"name": "r"}, nil)
			if tt.wantState == "" {
				if len(all) != 0 {
					t.Fatalf("raids = %+v, want none", all)
				}
			} else {
				if len(all) != 1 || all[0].State != tt.wantState || all[0].Disc != tt.wantDisc || all[0].Oper != 2 {
					t.Fatalf("raids = %+v, want r %s with %d of 2 discovered", all, tt.wantState, tt.wantDisc)
				}
				if (tt.wantState == "online") != (err == nil) {
					t.Errorf("bdev_get_bdevs r: %v, want the bdev only once online", err)
				}
				if tt.wantState == "configuring" && all[0].UUID != zeroUUID {
					t.Errorf("configuring raid uuid = %s, want the zero UUID", all[0].UUID)
				}
			}
			if b := fx.bdev("m1"); b.Claimed != tt.wantClaim {
				t.Errorf("m1 claimed = %v, want %v", b.Claimed, tt.wantClaim)
			}
			var configuring []info
			fx.must("bdev_raid_get_bdevs", map[string]any{"category": "configuring"}, &configuring)
			if (len(configuring) == 1) != (tt.wantState == "configuring") {
				t.Errorf("configuring category = %+v", configuring)
			}
		})
	}
	t.Run("online raid serves data", func(t *testing.T) {
		fx := newFixture(t, false)
		fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}, nil)
		fx.must("bdev_malloc_create", malloc("m1"), nil)
		data := pattern(9, 64<<10)
		fx.write("r", 0, data)
		if !bytes.Equal(fx.read("m1", 0, len(data)), data) {
			t.Error("member lacks the raid's write")
		}
		fx.must("bdev_raid_delete", map[string]any{"name": "r"}, nil)
		fx.must("bdev_malloc_delete", map[string]any{"name": "m1"}, nil) // released
	})
}

// TestRaidAddRebuilds: SPDK's bdev_raid_add_base_bdev on an online raid
// starts a rebuild onto the new member (reported as "process") and makes
// it operational when done (module/bdev/raid/bdev_raid.c
// raid_bdev_configure_base_bdev_cont and raid_bdev_write_info_json,
// longhorn/spdk longhorn-v24.09): afterwards the original member can go and
// the raid still reads the data written before the add.
func TestRaidAddRebuilds(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("a", 4)
	fx.lvol("b", 4)
	fx.lvol("c", 4)
	fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"lvs0/a", "lvs0/b"}}, nil)
	data := pattern(11, 4<<20)
	fx.write("r", 0, data)
	fx.must("bdev_raid_remove_base_bdev", map[string]any{"name": "lvs0/b"}, nil)
	fx.must("bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": "lvs0/c"}, nil)
	type info struct {
		Oper    int `json:"num_base_bdevs_operational"`
		Process *struct {
			Type   string `json:"type"`
			Target string `json:"target"`
		} `json:"process"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var raids []info
		fx.must("bdev_raid_get_bdevs", map[string]any{"category": "online"}, &raids)
		if len(raids) != 1 {
			t.Fatalf("online raids = %+v", raids)
		}
		if p := raids[0].Process; p != nil && (p.Type != "rebuild" || p.Target != "lvs0/c") {
			t.Errorf("process = %+v, want a rebuild of lvs0/c", *p)
		}
		if raids[0].Oper == 2 && raids[0].Process == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rebuild not done in 10s: %+v", raids[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	fx.must("bdev_raid_remove_base_bdev", map[string]any{"name": "lvs0/a"}, nil)
	if got := fx.read("r", 0, len(data)); !bytes.Equal(got, data) {
		t.Error("rebuilt member lacks the data written before it joined")
	}
}
