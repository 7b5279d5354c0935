package target

import (
	"strings"
	"testing"
)

type step struct {
	method string
	params any
}

// TestErrorCodes checks, method by method, the codes and messages SPDK
// sends (reference/spdk-jsonrpc.md §4), each row on a fresh target with an
// lvstore lvs0 on disk0.
func TestErrorCodes(t *testing.T) {
	lvol := func(name string) step {
		return step{"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": name, "size_in_mib": 4, "thin_provision": true}}
	}
	snap := func(lvol, name string) step {
		return step{"bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/" + lvol, "snapshot_name": name}}
	}
	clone := func(snap, name string) step {
		return step{"bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/" + snap, "clone_name": name}}
	}
	malloc := func(name string, mib int) step {
		return step{"bdev_malloc_create", map[string]any{"name": name, "num_blocks": mib * 2048, "block_size": 512}}
	}
	tests := []struct {
		name     string
		setup    []step
		call     step
		wantCode int
		wantMsg  string
	}{
		{"duplicate lvol", []step{lvol("a")}, lvol("a"), -17, "File exists"},
		{"lvol name too long", nil, step{"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": strings.Repeat("x", 256), "size_in_mib": 1}}, -22, "Invalid argument"},
		// SPDK reads the name as a C string: NUL bytes end it.
		{"lvol name of NUL bytes", nil, step{"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": string(make([]byte, 64)), "size_in_mib": 1}}, -22, "Invalid argument"},
		{"lvol both selectors", nil, step{"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "uuid": "x", "lvol_name": "a", "size_in_mib": 1}}, -22, "Invalid argument"},
		{"lvol no selector", nil, step{"bdev_lvol_create", map[string]any{"lvol_name": "a", "size_in_mib": 1}}, -22, "Invalid argument"},
		{"lvol unknown lvstore", nil, step{"bdev_lvol_create", map[string]any{"lvs_name": "nope", "lvol_name": "a", "size_in_mib": 1}}, -19, "No such device"},
		{"thick lvol too big", nil, step{"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "a", "size_in_mib": 1024}}, -32602, "No space left on device"},
		{"lvol unknown key", nil, step{"bdev_lvol_create", `{"lvs_name":"lvs0","lvol_name":"a","size_in_mib":1,"bogus":1}`}, -32603, "spdk_json_decode_object failed"},
		{"lvol missing key", nil, step{"bdev_lvol_create", `{"lvs_name":"lvs0","lvol_name":"a"}`}, -32603, "spdk_json_decode_object failed"},
		{"lvol wrong type", nil, step{"bdev_lvol_create", `{"lvs_name":"lvs0","lvol_name":"a","size_in_mib":"1"}`}, -32603, "spdk_json_decode_object failed"},
		{"get_bdevs unknown", nil, step{"bdev_get_bdevs", map[string]any{"name": "nope"}}, -19, "No such device"},
		{"get_bdevs unknown after timeout", nil, step{"bdev_get_bdevs", map[string]any{"name": "nope", "timeout": 30}}, -110, "Connection timed out"},
		{"get_bdevs unknown key", nil, step{"bdev_get_bdevs", `{"nam":"x"}`}, -32603, "spdk_json_decode_object failed"},
		{"snapshot unknown lvol", nil, snap("nope", "s"), -19, "No such device"},
		{"snapshot of a non-lvol", nil, step{"bdev_lvol_snapshot", map[string]any{"lvol_name": "disk0", "snapshot_name": "s"}}, -19, "No such device"},
		{"snapshot duplicate name", []step{lvol("a"), lvol("b")}, snap("a", "b"), -32602, "File exists"},
		{"snapshot of read-only", []step{lvol("a"), snap("a", "s")}, snap("s", "s2"), -32602, "Invalid argument"},
		{"clone of writable lvol", []step{lvol("a")}, clone("a", "c"), -32602, "Invalid argument"},
		{"clone unknown snapshot", nil, clone("nope", "c"), -19, "No such device"},
		{"delete snapshot with two clones", []step{lvol("a"), snap("a", "s"), clone("s", "c")},
			step{"bdev_lvol_delete", map[string]any{"name": "lvs0/s"}}, -32603, "Operation not permitted"},
		{"delete unknown lvol", nil, step{"bdev_lvol_delete", map[string]any{"name": "lvs0/nope"}}, -19, "No such device"},
		{"missing xattr", []step{lvol("a")}, step{"bdev_lvol_get_xattr", map[string]any{"name": "lvs0/a", "xattr_name": "k"}}, -32603, "No such file or directory"},
		{"xattr unknown lvol", nil, step{"bdev_lvol_set_xattr", map[string]any{"name": "lvs0/a", "xattr_name": "k", "xattr_value": "v"}}, -19, "No such device"},
		{"set_parent already parent", []step{lvol("a"), snap("a", "s")},
			step{"bdev_lvol_set_parent", map[string]any{"lvol_name": "lvs0/a", "parent_name": "lvs0/s"}}, -32602, "File exists"},
		{"set_parent to a non-snapshot", []step{lvol("a"), lvol("b")},
			step{"bdev_lvol_set_parent", map[string]any{"lvol_name": "lvs0/a", "parent_name": "lvs0/b"}}, -32602, "Invalid argument"},
		{"set_parent size differs", []step{lvol("a"), snap("a", "s"), {"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "b", "size_in_mib": 8, "thin_provision": true}}},
			step{"bdev_lvol_set_parent", map[string]any{"lvol_name": "lvs0/b", "parent_name": "lvs0/s"}}, -32602, "Invalid argument"},
		{"set_parent thick lvol", []step{lvol("a"), snap("a", "s"), {"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "b", "size_in_mib": 4}}},
			step{"bdev_lvol_set_parent", map[string]any{"lvol_name": "lvs0/b", "parent_name": "lvs0/s"}}, -32602, "Invalid argument"},
		{"set_parent unknown parent", []step{lvol("a")},
			step{"bdev_lvol_set_parent", map[string]any{"lvol_name": "lvs0/a", "parent_name": "lvs0/nope"}}, -19, "No such device"},
		{"set_parent_bdev unknown", []step{lvol("a")},
			step{"bdev_lvol_set_parent_bdev", map[string]any{"lvol_name": "lvs0/a", "parent_name": "nope"}}, -32602, "No such device"},
		{"rename to existing", []step{lvol("a"), lvol("b")}, step{"bdev_lvol_rename", map[string]any{"old_name": "lvs0/a", "new_name": "b"}}, -32602, "File exists"},
		{"resize unknown", nil, step{"bdev_lvol_resize", map[string]any{"name": "lvs0/a", "size_in_mib": 8}}, -19, "No such device"},
		{"inflate unknown", nil, step{"bdev_lvol_inflate", map[string]any{"name": "x"}}, -19, "No such device"},
		{"fragmap out of range", []step{lvol("a")}, step{"bdev_lvol_get_fragmap", map[string]any{"name": "lvs0/a", "offset": 0, "size": 64 << 20}}, -32602, "Invalid argument"},
		{"clone_bdev same lvs", []step{lvol("a"), snap("a", "s")},
			step{"bdev_lvol_clone_bdev", map[string]any{"bdev": "lvs0/s", "lvs_name": "lvs0", "clone_name": "c"}}, -32602, "bdev is an lvol in same lvs as clone; use bdev_lvol_clone instead"},
		{"clone_bdev no lvs", []step{malloc("m", 4)},
			step{"bdev_lvol_clone_bdev", map[string]any{"bdev": "m", "lvs_name": "nope", "clone_name": "c"}}, -32602, "lvs does not exist"},
		{"clone_bdev no bdev", nil,
			step{"bdev_lvol_clone_bdev", map[string]any{"bdev": "nope", "lvs_name": "lvs0", "clone_name": "c"}}, -32602, "bdev does not exist"},
		// vbdev_lvol_shallow_copy opens the destination for writing:
		// claimed (here by the lvstore on it) is -EPERM, sent as -32602.
		{"shallow copy to a claimed dst", []step{lvol("a"), snap("a", "s")},
			step{"bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs0/s", "dst_bdev_name": "disk0"}}, -32602, "Operation not permitted"},
		{"shallow copy to a missing dst", []step{lvol("a"), snap("a", "s")},
			step{"bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs0/s", "dst_bdev_name": "nope"}}, -32602, "No such device"},
		{"shallow copy unknown src", nil,
			step{"bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs0/s", "dst_bdev_name": "m"}}, -19, "No such device"},
		{"check unknown copy", nil, step{"bdev_lvol_check_shallow_copy", map[string]any{"operation_id": 99}}, -19, "No such device"},
		{"lvstore duplicate name", []step{malloc("m", 8)},
			step{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "m", "lvs_name": "lvs0"}}, -17, "File exists"},
		// lib/bdev/bdev.c bdev_open: a claimed bdev cannot be opened for
		// writing, so vbdev_lvs_create fails with -EPERM at once.
		{"lvstore on an lvstore's base", nil,
			step{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "x"}}, -1, "Operation not permitted"},
		{"lvstore on a raid member", []step{malloc("m1", 8), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}}},
			step{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "m1", "lvs_name": "x"}}, -1, "Operation not permitted"},
		{"lvstore unknown bdev", nil, step{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "nope", "lvs_name": "x"}}, -19, "No such device"},
		{"lvstore md_page_size (upstream only)", []step{malloc("m", 8)},
			step{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "m", "lvs_name": "x", "md_page_size": 4096}}, -32603, "spdk_json_decode_object failed"},
		{"get_lvstores both selectors", nil, step{"bdev_lvol_get_lvstores", map[string]any{"uuid": "u", "lvs_name": "lvs0"}}, -22, "Invalid argument"},
		{"get_lvstores unknown", nil, step{"bdev_lvol_get_lvstores", map[string]any{"lvs_name": "nope"}}, -19, "No such device"},
		{"delete_lvstore no selector", nil, step{"bdev_lvol_delete_lvstore", map[string]any{}}, -22, "Invalid argument"},
		{"rename_lvstore unknown", nil, step{"bdev_lvol_rename_lvstore", map[string]any{"old_name": "nope", "new_name": "x"}}, -2, "Lvol store nope not found"},
		{"aio duplicate name", nil, step{"bdev_aio_create", map[string]any{"name": "disk0", "filename": "/dev/null"}}, -17, "File exists"},
		{"aio missing file", nil, step{"bdev_aio_create", map[string]any{"name": "d1", "filename": "/nonexistent/x.img"}}, -2, "No such file or directory"},
		{"aio delete unknown", nil, step{"bdev_aio_delete", map[string]any{"name": "nope"}}, -19, "No such device"},
		{"malloc delete unknown", nil, step{"bdev_malloc_delete", map[string]any{"name": "nope"}}, -19, "No such device"},
		{"malloc bad block size", nil, step{"bdev_malloc_create", map[string]any{"num_blocks": 8, "block_size": 100}}, -22, "Invalid argument"},
		{"version with params", nil, step{"spdk_get_version", map[string]any{"x": 1}}, -32602, "spdk_get_version method requires no parameters"},
		// lib/rpc/rpc.c rpc_get_methods: undecodable params are -32602.
		{"get_methods unknown key", nil, step{"rpc_get_methods", map[string]any{"x": 1}}, -32602, "Invalid parameters"},
		{"get_methods wrong type", nil, step{"rpc_get_methods", map[string]any{"current": "yes"}}, -32602, "Invalid parameters"},
		{"raid unknown key", nil, step{"bdev_raid_create", `{"name":"r","raid_level":"raid1","base_bdevs":["a"],"x":1}`}, -32700, "spdk_json_decode_object failed"},
		{"raid base_bdevs as string", nil, step{"bdev_raid_create", `{"name":"r","raid_level":"raid1","base_bdevs":"a b"}`}, -32700, "spdk_json_decode_object failed"},
		{"raid strip size", []step{malloc("m1", 4)},
			step{"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}, "strip_size_kb": 64}}, -22, "Failed to create RAID bdev r: Invalid argument"},
		{"raid duplicate", []step{malloc("m1", 4), malloc("m2", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}}},
			step{"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m2"}}}, -17, "Failed to create RAID bdev r: File exists"},
		{"raid member claimed", []step{malloc("m1", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}}},
			step{"bdev_raid_create", map[string]any{"name": "r2", "raid_level": "1", "base_bdevs": []string{"m1"}}}, -1, "Failed to create RAID bdev r2: Operation not permitted"},
		// The rows below follow module/bdev/raid/bdev_raid_rpc.c and
		// module/bdev/raid/bdev_raid.c (longhorn/spdk longhorn-v24.09).
		{"raid on an lvstore's base", nil, step{"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"disk0"}}}, -1, "Failed to create RAID bdev r: Operation not permitted"},
		{"raid member twice", []step{malloc("m1", 4)}, step{"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1", "m1"}}}, -1, "Failed to create RAID bdev r: Operation not permitted"},
		{"raid empty base name", nil, step{"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{""}}}, -22, "The base bdev name cannot be empty: Invalid argument"},
		{"raid bad uuid", []step{malloc("m1", 4)}, step{"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}, "uuid": "nope"}}, -32700, "spdk_json_decode_object failed"},
		{"raid superblock", []step{malloc("m1", 4)}, step{"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}, "superblock": true}}, -95, "Failed to create RAID bdev r: Operation not supported"},
		{"raid add to full raid", []step{malloc("m1", 4), malloc("m2", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}}},
			step{"bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": "m2"}}, -22, "Failed to add base bdev m2 to RAID bdev r: Invalid argument"},
		{"raid add unknown raid", []step{malloc("m1", 4)}, step{"bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": "m1"}}, -19, "raid bdev r is not found in config"},
		{"raid add unknown key", nil, step{"bdev_raid_add_base_bdev", `{"raid_bdev":"r","base_bdev":"m1","x":1}`}, -32603, "spdk_json_decode_object failed"},
		{"raid add claimed", []step{malloc("m1", 4), malloc("m2", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1", "m2"}}},
			{"bdev_raid_remove_base_bdev", map[string]any{"name": "m2"}}},
			step{"bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": "disk0"}}, -1, "Failed to add base bdev disk0 to RAID bdev r: Operation not permitted"},
		{"raid add missing base", []step{malloc("m1", 4), malloc("m2", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1", "m2"}}},
			{"bdev_raid_remove_base_bdev", map[string]any{"name": "m2"}}},
			step{"bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": "nope"}}, -19, "Failed to add base bdev nope to RAID bdev r: No such device"},
		{"raid grow unknown raid", []step{malloc("m1", 4)}, step{"bdev_raid_grow_base_bdev", map[string]any{"raid_name": "r", "base_name": "m1"}}, -19, "raid bdev r not found"},
		{"raid grow unknown base", []step{malloc("m1", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}}},
			step{"bdev_raid_grow_base_bdev", map[string]any{"raid_name": "r", "base_name": "nope"}}, -19, "base bdev nope not found"},
		{"raid grow claimed", []step{malloc("m1", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}}},
			step{"bdev_raid_grow_base_bdev", map[string]any{"raid_name": "r", "base_name": "disk0"}}, -32603, "Operation not permitted"},
		{"raid grow configuring", []step{malloc("m1", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"nope"}}}},
			step{"bdev_raid_grow_base_bdev", map[string]any{"raid_name": "r", "base_name": "m1"}}, -22, "Failed to grow raid r adding base bdev m1: Invalid argument"},
		{"raid add while configuring, no free slot", []step{malloc("m1", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"nope"}}}},
			step{"bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": "m1"}}, -22, "Failed to add base bdev m1 to RAID bdev r: Invalid argument"},
		{"raid remove non-member", []step{malloc("m1", 4)}, step{"bdev_raid_remove_base_bdev", map[string]any{"name": "m1"}}, -19, "Failed to remove base bdev from raid bdev"},
		{"raid delete unknown", nil, step{"bdev_raid_delete", map[string]any{"name": "nope"}}, -19, "raid bdev nope not found"},
		{"raid bad category", nil, step{"bdev_raid_get_bdevs", map[string]any{"category": "some"}}, -22, "Invalid argument"},
		{"raid remove unknown member", nil, step{"bdev_raid_remove_base_bdev", map[string]any{"name": "nope"}}, -19, "Failed to remove base bdev from raid bdev"},
		{"raid bad member state", []step{malloc("m1", 4), {"bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"m1"}}}},
			step{"bdev_raid_set_base_bdev_state", map[string]any{"raid_name": "r", "base_bdev": "m1", "state": "ERR"}}, -22, "Invalid argument"},
		{"export unknown bdev", nil, step{"nbd_export_start", map[string]any{"bdev_name": "nope"}}, -19, "No such device"},
		{"export duplicate", []step{malloc("m", 4), {"nbd_export_start", map[string]any{"bdev_name": "m"}}},
			step{"nbd_export_start", map[string]any{"bdev_name": "m"}}, -17, "File exists"},
		{"export stop unknown", nil, step{"nbd_export_stop", map[string]any{"export_name": "nope"}}, -19, "No such device"},
		{"remote detach unknown", nil, step{"bdev_remote_detach", map[string]any{"name": "nope"}}, -19, "No such device"},
		{"unknown method", nil, step{"bdev_nope", nil}, -32601, "Method not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, true)
			for _, s := range tt.setup {
				fx.must(s.method, s.params, nil)
			}
			// One more clone so that "two clones" rows have two.
			if tt.name == "delete snapshot with two clones" {
				fx.must("bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/s", "clone_name": "c2"}, nil)
			}
			err := fx.call(tt.call.method, tt.call.params, nil)
			code, msg, ok := rpcCode(err)
			if !ok {
				t.Fatalf("%s: got %v, want JSON-RPC error %d %q", tt.call.method, err, tt.wantCode, tt.wantMsg)
			}
			if code != tt.wantCode || msg != tt.wantMsg {
				t.Errorf("%s: got %d %q, want %d %q", tt.call.method, code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}
