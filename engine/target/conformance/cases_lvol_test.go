package conformance

import (
	"fmt"
	"strings"
)

// crc64ISORefl is CRC-64/ISO reflected, chained through seed, as the
// fork's spdk_crc64_iso_refl (lib/util/crc64.c), written bit by bit.
func crc64ISORefl(seed uint64, p []byte) uint64 {
	crc := ^seed
	for _, b := range p {
		crc ^= uint64(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xD800000000000000
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

// zeroClustersChecksum is the snapshot checksum of n zeroed 1 MiB clusters
// (lib/blob/blobstore.c bs_snapshot_checksum_blob_read_cpl: the checksum
// starts at 0 and chains over each owned cluster, read whole).
func zeroClustersChecksum(n int) uint64 {
	zero := make([]byte, 1<<20)
	var c uint64
	for range n {
		c = crc64ISORefl(c, zero)
	}
	return c
}

func init() {
	allCases = append(allCases, lvolCases())
}

func lvolCases() []tcase {
	return []tcase{
		{
			name: "cf1_snapshot_checksum",
			cite: "longhorn/spdk longhorn-v24.09 module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_register_snapshot_checksum, rpc_bdev_lvol_get_snapshot_checksum (-ENODEV when no checksum xattr); lib/blob/blobstore.c spdk_bs_snapshot_checksum (starts at 0, chains over owned clusters; -EPERM on a non-snapshot)",
			steps: []step{
				malloc("cf1_m", 64),
				lvstore("cf1_m", "cf1_lvs"),
				lvol("cf1_lvs", "vol", 4),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf1_lvs/vol","snapshot_name":"snap"}`, `"<uuid>"`).capture("snap", ""),
				fails("bdev_lvol_get_snapshot_checksum", `{"name":"cf1_lvs/snap"}`, -19, "No such device"),
				ok("bdev_lvol_register_snapshot_checksum", `{"name":"cf1_lvs/snap"}`, `true`),
				ok("bdev_lvol_get_snapshot_checksum", `{"name":"cf1_lvs/snap"}`, `{"checksum":0}`),
				ok("bdev_lvol_get_snapshot_checksum", `{"name":"{{snap}}"}`, `{"checksum":0}`),
				fails("bdev_lvol_register_snapshot_checksum", `{"name":"cf1_lvs/vol"}`, -32603, "Operation not permitted"),
				fails("bdev_lvol_get_snapshot_checksum", `{"name":"cf1_lvs/vol"}`, -19, "No such device"),
				fails("bdev_lvol_get_snapshot_checksum", `{"name":"cf1_nope"}`, -19, "No such device"),
				fails("bdev_lvol_get_snapshot_checksum", `{"name":"cf1_m"}`, -19, "No such device"),
				fails("bdev_lvol_get_snapshot_checksum", `{}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_lvol_register_snapshot_checksum", `{"name":"cf1_nope"}`, -19, "No such device"),
				fails("bdev_lvol_register_snapshot_checksum", `{"name":"cf1_lvs/snap","x":1}`, -32603, "spdk_json_decode_object failed"),
			},
			cleanup: []step{lvstoreDel("cf1_lvs"), mallocDel("cf1_m")},
		},
		{
			name: "cf2_snapshot_checksum_thick",
			cite: "longhorn/spdk lib/blob/blobstore.c spdk_bs_snapshot_checksum (CRC-64/ISO over each cluster the snapshot owns, in order); a thick lvol's clusters go to its snapshot (bs_snapshot_swap_cluster_maps); malloc bdevs start zeroed (module/bdev/malloc/bdev_malloc.c)",
			steps: []step{
				malloc("cf2_m", 64),
				lvstore("cf2_m", "cf2_lvs"),
				ok("bdev_lvol_create", `{"lvs_name":"cf2_lvs","lvol_name":"thick","size_in_mib":2}`, `"<uuid>"`),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf2_lvs/thick","snapshot_name":"snap"}`, `"<uuid>"`),
				ok("bdev_lvol_register_snapshot_checksum", `{"name":"cf2_lvs/snap"}`, `true`),
				ok("bdev_lvol_get_snapshot_checksum", `{"name":"cf2_lvs/snap"}`, fmt.Sprintf(`{"checksum":%d}`, zeroClustersChecksum(2))),
			},
			cleanup: []step{lvstoreDel("cf2_lvs"), mallocDel("cf2_m")},
		},
		{
			name: "cf3_shallow_copy_from_writable_lvol",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_start_shallow_copy (replies operation_id once started; total_clusters = allocated clusters of the source) and rpc_bdev_lvol_check_shallow_copy (error state reported once, then -ENODEV); lib/blob/blobstore.c bs_shallow_copy_blob_open_cpl (-EPERM when the source is not read-only); module/bdev/lvol/vbdev_lvol.c vbdev_lvol_shallow_copy (the destination is released when the copy ends)",
			steps: []step{
				malloc("cf3_m", 64),
				lvstore("cf3_m", "cf3_lvs"),
				lvol("cf3_lvs", "src", 4),
				malloc("cf3_dst", 8),
				has("bdev_lvol_start_shallow_copy", `{"src_lvol_name":"cf3_lvs/src","dst_bdev_name":"cf3_dst"}`, `{"operation_id":"<any>"}`).capture("op", "operation_id"),
				ok("bdev_lvol_check_shallow_copy", `{"operation_id":{{op}}}`, `{"copied_clusters":0,"total_clusters":0,"state":"error","error":"Operation not permitted"}`).wait(),
				fails("bdev_lvol_check_shallow_copy", `{"operation_id":{{op}}}`, -19, "No such device"),
				has("bdev_get_bdevs", `{"name":"cf3_dst"}`, `[{"name":"cf3_dst","claimed":false}]`).without("0.claim_type"),
			},
			cleanup: []step{lvstoreDel("cf3_lvs"), mallocDel("cf3_m"), mallocDel("cf3_dst")},
		},
		{
			name: "cf4_shallow_copy_errors",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_start_shallow_copy (-ENODEV for an unknown source; vbdev_lvol_shallow_copy's synchronous failures, e.g. spdk_bdev_create_bs_dev_ext -ENODEV for an unknown destination, as -32602 strerror) and rpc_bdev_lvol_check_shallow_copy (-ENODEV unknown id)",
			steps: []step{
				malloc("cf4_m", 64),
				lvstore("cf4_m", "cf4_lvs"),
				lvol("cf4_lvs", "a", 4),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf4_lvs/a","snapshot_name":"s"}`, `"<uuid>"`),
				malloc("cf4_small", 1),
				fails("bdev_lvol_start_shallow_copy", `{"src_lvol_name":"cf4_lvs/nope","dst_bdev_name":"cf4_small"}`, -19, "No such device"),
				fails("bdev_lvol_start_shallow_copy", `{"src_lvol_name":"cf4_lvs/s","dst_bdev_name":"cf4_nope"}`, -32602, "No such device"),
				fails("bdev_lvol_check_shallow_copy", `{"operation_id":4000000000}`, -19, "No such device"),
			},
			cleanup: []step{lvstoreDel("cf4_lvs"), mallocDel("cf4_m"), mallocDel("cf4_small")},
		},
		{
			name: "cf5_snapshot_flags",
			cite: "lib/blob/blobstore.c spdk_blob_is_snapshot (a blob with clones is a snapshot) and bs_snapshot_freeze_cpl (the snapshot keeps the origin's thin-provisioning flag, the origin becomes thin); module/bdev/lvol/vbdev_lvol_rpc.c rpc_dump_lvol; module/bdev/lvol/vbdev_lvol.c vbdev_lvol_dump_info_json",
			steps: []step{
				malloc("cf5_m", 64),
				lvstore("cf5_m", "cf5_lvs"),
				ok("bdev_lvol_create", `{"lvs_name":"cf5_lvs","lvol_name":"thick","size_in_mib":2}`, `"<uuid>"`),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf5_lvs/thick","snapshot_name":"thick-snap"}`, `"<uuid>"`),
				lvol("cf5_lvs", "ro", 2),
				ok("bdev_lvol_set_read_only", `{"name":"cf5_lvs/ro"}`, `true`),
				has("bdev_lvol_get_lvols", `{"lvs_name":"cf5_lvs"}`, `[
					{"name":"thick","is_thin_provisioned":true,"is_snapshot":false,"is_clone":true},
					{"name":"thick-snap","is_thin_provisioned":false,"is_snapshot":true,"is_clone":false},
					{"name":"ro","is_thin_provisioned":true,"is_snapshot":false,"is_clone":false}]`),
				ok("bdev_lvol_clone", `{"snapshot_name":"cf5_lvs/ro","clone_name":"c"}`, `"<uuid>"`),
				has("bdev_lvol_get_lvols", `{"lvs_name":"cf5_lvs"}`, `[
					{"name":"thick"},{"name":"thick-snap"},
					{"name":"ro","is_thin_provisioned":true,"is_snapshot":true,"is_clone":false},
					{"name":"c","is_thin_provisioned":true,"is_snapshot":false,"is_clone":true}]`),
				has("bdev_get_bdevs", `{"name":"cf5_lvs/ro"}`, `[{"driver_specific":{"lvol":{"snapshot":true,"clone":false,"clones":["c"]}}}]`),
				has("bdev_get_bdevs", `{"name":"cf5_lvs/thick-snap"}`, `[{"driver_specific":{"lvol":{"thin_provision":false,"snapshot":true,"clones":["thick"]}}}]`),
			},
			cleanup: []step{lvstoreDel("cf5_lvs"), mallocDel("cf5_m")},
		},
		{
			name: "cf6_creation_order",
			cite: "lib/bdev/bdev.c bdev_register (appends to the bdev list) and lib/bdev/bdev_rpc.c rpc_bdev_get_bdevs (walks it); lib/lvol/lvol.c (lvs->lvols appended) and module/bdev/lvol/vbdev_lvol_rpc.c rpc_dump_lvols; lib/blob/blobstore.c (clones appended to the snapshot's list) dumped as clones by module/bdev/lvol/vbdev_lvol.c vbdev_lvol_dump_info_json",
			steps: []step{
				malloc("cf6_m", 64),
				lvstore("cf6_m", "cf6_lvs"),
				lvol("cf6_lvs", "b", 4),
				lvol("cf6_lvs", "a", 4),
				malloc("cf6_m0", 1),
				lvol("cf6_lvs", "c", 4),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf6_lvs/b","snapshot_name":"s"}`, `"<uuid>"`).capture("s", ""),
				ok("bdev_lvol_clone", `{"snapshot_name":"cf6_lvs/s","clone_name":"z"}`, `"<uuid>"`).capture("z", ""),
				ok("bdev_lvol_clone", `{"snapshot_name":"cf6_lvs/s","clone_name":"y"}`, `"<uuid>"`).capture("y", ""),
				has("bdev_get_bdevs", ``, `[{"name":"cf6_m"},{"name":"{{b}}"},{"name":"{{a}}"},{"name":"cf6_m0"},{"name":"{{c}}"},{"name":"{{s}}"},{"name":"{{z}}"},{"name":"{{y}}"}]`).keep(`cf6_`),
				has("bdev_lvol_get_lvols", `{"lvs_name":"cf6_lvs"}`, `[{"name":"b"},{"name":"a"},{"name":"c"},{"name":"s"},{"name":"z"},{"name":"y"}]`),
				has("bdev_get_bdevs", `{"name":"cf6_lvs/s"}`, `[{"driver_specific":{"lvol":{"clones":["b","z","y"]}}}]`),
			},
			cleanup: []step{lvstoreDel("cf6_lvs"), mallocDel("cf6_m"), mallocDel("cf6_m0")},
		},
		{
			name: "cf7_lvol_objects",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_dump_lvol_store, rpc_dump_lvol, rpc_bdev_lvol_rename, rpc_bdev_lvol_resize, rpc_bdev_lvol_set_xattr/get_xattr (fork); module/bdev/lvol/vbdev_lvol.c vbdev_lvol_dump_info_json (driver_specific.lvol); lib/bdev/bdev_rpc.c rpc_dump_bdev_info",
			steps: []step{
				malloc("cf7_m", 64),
				lvstore("cf7_m", "cf7_lvs").capture("lvs", ""),
				has("bdev_lvol_get_lvstores", `{"lvs_name":"cf7_lvs"}`, `[{"uuid":"{{lvs}}","name":"cf7_lvs","base_bdev":"cf7_m","total_data_clusters":"<any>","free_clusters":"<any>","block_size":512,"cluster_size":1048576}]`),
				lvol("cf7_lvs", "v", 4),
				has("bdev_lvol_get_lvols", `{"lvs_name":"cf7_lvs"}`, `[{"alias":"cf7_lvs/v","uuid":"{{v}}","name":"v","creation_time":"<time>","is_thin_provisioned":true,"is_snapshot":false,"is_clone":false,"is_esnap_clone":false,"is_degraded":false,"lvs":{"name":"cf7_lvs","uuid":"{{lvs}}"}}]`),
				has("bdev_get_bdevs", `{"name":"cf7_lvs/v"}`, `[{"name":"{{v}}","aliases":["cf7_lvs/v"],"product_name":"Logical Volume","block_size":512,"num_blocks":8192,"uuid":"{{v}}","creation_time":"<time>","claimed":false,"zoned":false,
					"driver_specific":{"lvol":{"lvol_store_uuid":"{{lvs}}","base_bdev":"cf7_m","thin_provision":true,"snapshot":false,"clone":false,"esnap_clone":false}}}]`).without("0.md_size", "0.md_interleave", "0.dif_type", "0.claim_type", "0.driver_specific.lvol.clones", "0.driver_specific.lvol.base_snapshot"),
				has("bdev_get_bdevs", `{"name":"{{v}}"}`, `[{"name":"{{v}}"}]`),
				ok("bdev_lvol_rename", `{"old_name":"cf7_lvs/v","new_name":"w"}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf7_lvs/w"}`, `[{"name":"{{v}}","aliases":["cf7_lvs/w"]}]`),
				ok("bdev_lvol_resize", `{"name":"cf7_lvs/w","size_in_mib":9}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf7_lvs/w"}`, `[{"num_blocks":18432}]`),
				ok("bdev_lvol_set_xattr", `{"name":"cf7_lvs/w","xattr_name":"rev","xattr_value":"7"}`, `true`),
				ok("bdev_lvol_get_xattr", `{"name":"cf7_lvs/w","xattr_name":"rev"}`, `"7"`),
				ok("bdev_lvol_delete", `{"name":"cf7_lvs/w"}`, `true`),
				ok("bdev_lvol_get_lvols", `{"lvs_name":"cf7_lvs"}`, `[]`),
				ok("bdev_lvol_delete_lvstore", `{"lvs_name":"cf7_lvs"}`, `true`),
				fails("bdev_lvol_get_lvstores", `{"lvs_name":"cf7_lvs"}`, -19, "No such device"),
			},
			cleanup: []step{lvstoreDel("cf7_lvs"), mallocDel("cf7_m")},
		},
		{
			name: "cf8_get_lvols_fields",
			cite: "longhorn/spdk longhorn-v24.09 module/bdev/lvol/vbdev_lvol_rpc.c rpc_dump_lvol: alias, uuid, name, creation_time, is_thin_provisioned, is_snapshot, is_clone, is_esnap_clone, is_degraded, lvs — no num_allocated_clusters",
			steps: []step{
				malloc("cf8_m", 64),
				lvstore("cf8_m", "cf8_lvs").capture("lvs", ""),
				lvol("cf8_lvs", "v", 4),
				ok("bdev_lvol_get_lvols", `{"lvs_name":"cf8_lvs"}`, `[{"alias":"cf8_lvs/v","uuid":"{{v}}","name":"v","creation_time":"<time>","is_thin_provisioned":true,"is_snapshot":false,"is_clone":false,"is_esnap_clone":false,"is_degraded":false,"lvs":{"name":"cf8_lvs","uuid":"{{lvs}}"}}]`),
			},
			cleanup: []step{lvstoreDel("cf8_lvs"), mallocDel("cf8_m")},
		},
		{
			name: "cf9_lvol_errors",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_create (decode -32603, selectors -EINVAL, unknown lvstore -ENODEV, \"Invalid clean_method option\"), rpc_bdev_lvol_snapshot/clone/rename/resize/inflate/delete (-ENODEV synchronously, asynchronous failures as -32602 strerror, delete as -32603), rpc_bdev_lvol_get_xattr (fork); lib/lvol/lvol.c spdk_lvol_create and lvs_verify_lvol_name (-EEXIST, -EINVAL empty name); lib/blob/blobstore.c (-ENOSPC, -EINVAL clone of a writable blob, -EPERM delete with several clones)",
			steps: []step{
				malloc("cf9_m", 64),
				lvstore("cf9_m", "cf9_lvs"),
				lvol("cf9_lvs", "a", 4),
				lvol("cf9_lvs", "b", 4),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_lvs","lvol_name":"a","size_in_mib":4,"thin_provision":true}`, -17, "File exists"),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_lvs","lvol_name":"","size_in_mib":1}`, -22, "Invalid argument"),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_lvs","uuid":"x","lvol_name":"c","size_in_mib":1}`, -22, "Invalid argument"),
				fails("bdev_lvol_create", `{"lvol_name":"c","size_in_mib":1}`, -22, "Invalid argument"),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_nope","lvol_name":"c","size_in_mib":1}`, -19, "No such device"),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_lvs","lvol_name":"c","size_in_mib":1024}`, -32602, "No space left on device"),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_lvs","lvol_name":"c","size_in_mib":1,"bogus":1}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_lvs","lvol_name":"c"}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_lvol_create", `{"lvs_name":"cf9_lvs","lvol_name":"c","size_in_mib":"1"}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_lvol_snapshot", `{"lvol_name":"cf9_lvs/nope","snapshot_name":"s"}`, -19, "No such device"),
				fails("bdev_lvol_snapshot", `{"lvol_name":"cf9_m","snapshot_name":"s"}`, -19, "No such device"),
				fails("bdev_lvol_snapshot", `{"lvol_name":"cf9_lvs/a","snapshot_name":"b"}`, -32602, "File exists"),
				fails("bdev_lvol_clone", `{"snapshot_name":"cf9_lvs/a","clone_name":"c"}`, -32602, "Invalid argument"),
				fails("bdev_lvol_clone", `{"snapshot_name":"cf9_lvs/nope","clone_name":"c"}`, -19, "No such device"),
				fails("bdev_lvol_rename", `{"old_name":"cf9_lvs/a","new_name":"b"}`, -32602, "File exists"),
				fails("bdev_lvol_resize", `{"name":"cf9_lvs/nope","size_in_mib":8}`, -19, "No such device"),
				fails("bdev_lvol_inflate", `{"name":"cf9_nope"}`, -19, "No such device"),
				fails("bdev_lvol_delete", `{"name":"cf9_lvs/nope"}`, -19, "No such device"),
				fails("bdev_lvol_get_xattr", `{"name":"cf9_lvs/a","xattr_name":"k"}`, -32603, "No such file or directory"),
				fails("bdev_lvol_set_xattr", `{"name":"cf9_lvs/nope","xattr_name":"k","xattr_value":"v"}`, -19, "No such device"),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf9_lvs/a","snapshot_name":"s"}`, `"<uuid>"`),
				fails("bdev_lvol_snapshot", `{"lvol_name":"cf9_lvs/s","snapshot_name":"s2"}`, -32602, "Invalid argument"),
				ok("bdev_lvol_clone", `{"snapshot_name":"cf9_lvs/s","clone_name":"c"}`, `"<uuid>"`),
				fails("bdev_lvol_delete", `{"name":"cf9_lvs/s"}`, -32603, "Operation not permitted"),
				fails("bdev_lvol_set_parent", `{"lvol_name":"cf9_lvs/a","parent_name":"cf9_lvs/s"}`, -32602, "File exists"),
				fails("bdev_lvol_set_parent", `{"lvol_name":"cf9_lvs/a","parent_name":"cf9_lvs/b"}`, -32602, "Invalid argument"),
				fails("bdev_lvol_set_parent", `{"lvol_name":"cf9_lvs/a","parent_name":"cf9_lvs/nope"}`, -19, "No such device"),
				fails("bdev_lvol_set_parent_bdev", `{"lvol_name":"cf9_lvs/nope","parent_name":"cf9_m"}`, -19, "No such device"),
			},
			cleanup: []step{lvstoreDel("cf9_lvs"), mallocDel("cf9_m")},
		},
		{
			name: "cf10_lvstore_errors",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_create_lvstore (\"Invalid clear_method parameter\", decode -32603: the fork has no md_page_size), rpc_bdev_lvol_get_lvstores/delete_lvstore (vbdev_get_lvol_store_by_uuid_xor_name: -EINVAL, -ENODEV), rpc_bdev_lvol_rename_lvstore (\"Lvol store %s not found\", -ENOENT); module/bdev/lvol/vbdev_lvol.c vbdev_lvs_create (-ENODEV, -EEXIST via lib/lvol/lvol.c)",
			steps: []step{
				malloc("cf10_m", 64),
				malloc("cf10_m2", 16),
				lvstore("cf10_m", "cf10_lvs"),
				fails("bdev_lvol_create_lvstore", `{"bdev_name":"cf10_m2","lvs_name":"cf10_lvs"}`, -17, "File exists"),
				fails("bdev_lvol_create_lvstore", `{"bdev_name":"cf10_nope","lvs_name":"cf10_x"}`, -19, "No such device"),
				fails("bdev_lvol_create_lvstore", `{"bdev_name":"cf10_m2","lvs_name":"cf10_x","md_page_size":4096}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_lvol_get_lvstores", `{"uuid":"u","lvs_name":"cf10_lvs"}`, -22, "Invalid argument"),
				fails("bdev_lvol_get_lvstores", `{"lvs_name":"cf10_nope"}`, -19, "No such device"),
				fails("bdev_lvol_delete_lvstore", `{}`, -22, "Invalid argument"),
				fails("bdev_lvol_rename_lvstore", `{"old_name":"cf10_nope","new_name":"cf10_y"}`, -2, "Lvol store cf10_nope not found"),
				ok("bdev_lvol_rename_lvstore", `{"old_name":"cf10_lvs","new_name":"cf10_lvs2"}`, `true`),
				has("bdev_lvol_get_lvstores", `{"lvs_name":"cf10_lvs2"}`, `[{"name":"cf10_lvs2","base_bdev":"cf10_m"}]`),
			},
			cleanup: []step{lvstoreDel("cf10_lvs"), lvstoreDel("cf10_lvs2"), mallocDel("cf10_m"), mallocDel("cf10_m2")},
		},
		{
			name: "cf11_claims",
			cite: "module/blob/bdev/blob_bdev.c spdk_bs_bdev_claim (the lvol module claims an lvstore's base read_many_write_one); lib/bdev/bdev.c bdev_open (a claimed bdev cannot be opened for writing: -EPERM), claim type names; module/bdev/lvol/vbdev_lvol.c vbdev_lvs_create; module/bdev/raid/bdev_raid_rpc.c rpc_bdev_raid_create (\"Failed to create RAID bdev %s: %s\")",
			steps: []step{
				malloc("cf11_m", 64),
				malloc("cf11_m1", 8),
				lvstore("cf11_m", "cf11_lvs"),
				has("bdev_get_bdevs", `{"name":"cf11_m"}`, `[{"name":"cf11_m","claimed":true,"claim_type":"read_many_write_one"}]`),
				fails("bdev_lvol_create_lvstore", `{"bdev_name":"cf11_m","lvs_name":"cf11_x"}`, -1, "Operation not permitted"),
				fails("bdev_raid_create", `{"name":"cf11_r","raid_level":"raid1","base_bdevs":["cf11_m"]}`, -1, "Failed to create RAID bdev cf11_r: Operation not permitted"),
				ok("bdev_raid_create", `{"name":"cf11_r","raid_level":"raid1","base_bdevs":["cf11_m1"]}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf11_m1"}`, `[{"claimed":true,"claim_type":"exclusive_write"}]`),
				fails("bdev_lvol_create_lvstore", `{"bdev_name":"cf11_m1","lvs_name":"cf11_x"}`, -1, "Operation not permitted"),
				fails("bdev_raid_create", `{"name":"cf11_r2","raid_level":"1","base_bdevs":["cf11_m1"]}`, -1, "Failed to create RAID bdev cf11_r2: Operation not permitted"),
				// Deleting a claimed bdev: cf60 to cf64.
			},
			cleanup: []step{raidDel("cf11_r"), lvstoreDel("cf11_lvs"), mallocDel("cf11_m"), mallocDel("cf11_m1")},
		},
		{
			name: "cf12_clear_method_messages",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_create_lvstore (-EINVAL \"Invalid clear_method parameter\") and rpc_bdev_lvol_create (-EINVAL \"Invalid clean_method option\", sic)",
			steps: []step{
				malloc("cf12_m", 64),
				fails("bdev_lvol_create_lvstore", `{"bdev_name":"cf12_m","lvs_name":"cf12_lvs","clear_method":"bogus"}`, -22, "Invalid clear_method parameter"),
				lvstore("cf12_m", "cf12_lvs"),
				fails("bdev_lvol_create", `{"lvs_name":"cf12_lvs","lvol_name":"c","size_in_mib":1,"clear_method":"bogus"}`, -22, "Invalid clean_method option"),
			},
			cleanup: []step{lvstoreDel("cf12_lvs"), mallocDel("cf12_m")},
		},
		{
			name: "cf13_shallow_copy_checks_are_async",
			cite: "lib/blob/blobstore.c bs_shallow_copy_blob_open_cpl: a destination smaller than the source fails the started copy with -EINVAL (reported by rpc_bdev_lvol_check_shallow_copy, module/bdev/lvol/vbdev_lvol_rpc.c), not the start; module/bdev/lvol/vbdev_lvol.c vbdev_lvol_shallow_copy: a claimed destination cannot be opened for writing (lib/bdev/bdev.c bdev_open: -EPERM), answered -32602 by the start",
			steps: []step{
				malloc("cf13_m", 64),
				lvstore("cf13_m", "cf13_lvs"),
				lvol("cf13_lvs", "a", 4),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf13_lvs/a","snapshot_name":"s"}`, `"<uuid>"`),
				malloc("cf13_small", 1),
				has("bdev_lvol_start_shallow_copy", `{"src_lvol_name":"cf13_lvs/s","dst_bdev_name":"cf13_small"}`, `{"operation_id":"<any>"}`).capture("op", "operation_id"),
				ok("bdev_lvol_check_shallow_copy", `{"operation_id":{{op}}}`, `{"copied_clusters":0,"total_clusters":0,"state":"error","error":"Invalid argument"}`).wait(),
				malloc("cf13_dst", 8),
				ok("bdev_raid_create", `{"name":"cf13_r","raid_level":"raid1","base_bdevs":["cf13_dst"]}`, `true`),
				fails("bdev_lvol_start_shallow_copy", `{"src_lvol_name":"cf13_lvs/s","dst_bdev_name":"cf13_dst"}`, -32602, "Operation not permitted"),
			},
			cleanup: []step{raidDel("cf13_r"), lvstoreDel("cf13_lvs"), mallocDel("cf13_m"), mallocDel("cf13_small"), mallocDel("cf13_dst")},
		},
		{
			name: "cf14_set_parent_bdev_unknown_parent",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_set_parent_bdev (only the lvol is looked up synchronously) and rpc_bdev_lvol_set_parent_cb (-32602 strerror); module/bdev/lvol/vbdev_lvol.c vbdev_lvol_set_external_parent (spdk_bdev_open_ext fails: cb_fn(-ENODEV))",
			steps: []step{
				malloc("cf14_m", 64),
				lvstore("cf14_m", "cf14_lvs"),
				lvol("cf14_lvs", "a", 4),
				fails("bdev_lvol_set_parent_bdev", `{"lvol_name":"cf14_lvs/a","parent_name":"cf14_nope"}`, -32602, "No such device"),
			},
			cleanup: []step{lvstoreDel("cf14_lvs"), mallocDel("cf14_m")},
		},
		{
			name: "cf15_esnap_clone",
			cite: "module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_clone_bdev (-32602 \"lvs does not exist\", \"bdev does not exist\", \"bdev is an lvol in same lvs as clone; use bdev_lvol_clone instead\"); module/bdev/lvol/vbdev_lvol.c vbdev_lvol_create_bdev_clone (the esnap id is the bdev's UUID), vbdev_lvol_dump_info_json (esnap_clone, external_snapshot_name); module/blob/bdev/blob_bdev.c (the external snapshot is claimed read_many_write_none); lib/blob/blobstore.c spdk_blob_is_clone (false for an esnap clone)",
			steps: []step{
				malloc("cf15_m", 64),
				lvstore("cf15_m", "cf15_lvs"),
				ok("bdev_malloc_create", `{"name":"cf15_ext","num_blocks":8192,"block_size":512,"uuid":"0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d15"}`, `"cf15_ext"`),
				ok("bdev_lvol_clone_bdev", `{"bdev":"cf15_ext","lvs_name":"cf15_lvs","clone_name":"esc"}`, `"<uuid>"`).capture("esc", ""),
				has("bdev_get_bdevs", `{"name":"cf15_lvs/esc"}`, `[{"name":"{{esc}}","num_blocks":8192,"driver_specific":{"lvol":{"thin_provision":true,"snapshot":false,"clone":false,"esnap_clone":true,"external_snapshot_name":"0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d15"}}}]`).without("0.driver_specific.lvol.base_snapshot"),
				has("bdev_lvol_get_lvols", `{"lvs_name":"cf15_lvs"}`, `[{"name":"esc","is_thin_provisioned":true,"is_snapshot":false,"is_clone":false,"is_esnap_clone":true,"is_degraded":false}]`),
				has("bdev_get_bdevs", `{"name":"cf15_ext"}`, `[{"claimed":true,"claim_type":"read_many_write_none"}]`),
				lvol("cf15_lvs", "a", 4),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf15_lvs/a","snapshot_name":"s"}`, `"<uuid>"`),
				fails("bdev_lvol_clone_bdev", `{"bdev":"cf15_lvs/s","lvs_name":"cf15_lvs","clone_name":"c"}`, -32602, "bdev is an lvol in same lvs as clone; use bdev_lvol_clone instead"),
				fails("bdev_lvol_clone_bdev", `{"bdev":"cf15_ext","lvs_name":"cf15_nope","clone_name":"c"}`, -32602, "lvs does not exist"),
				fails("bdev_lvol_clone_bdev", `{"bdev":"cf15_nope","lvs_name":"cf15_lvs","clone_name":"c"}`, -32602, "bdev does not exist"),
				ok("bdev_lvol_delete", `{"name":"cf15_lvs/esc"}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf15_ext"}`, `[{"claimed":false}]`),
			},
			cleanup: []step{lvstoreDel("cf15_lvs"), mallocDel("cf15_m"), mallocDel("cf15_ext")},
		},
		{
			name: "cf16_fragmap_inflate_decouple",
			cite: "longhorn/spdk module/bdev/lvol/vbdev_lvol_rpc.c rpc_bdev_lvol_get_fragmap_cb (cluster_size, num_clusters, num_allocated_clusters, fragmap: spdk_bit_array_to_base64_string, bit i of byte i/8) and module/bdev/lvol/vbdev_lvol.c vbdev_lvol_get_fragmap (-EINVAL past the end, answered -32602); rpc_bdev_lvol_inflate / rpc_bdev_lvol_decouple_parent; lib/blob/blobstore.c bs_inflate_blob (inflate allocates every cluster and drops the parent, decouple only drops it), bs_blob_list_remove (the snapshot's entry stays with no clones: spdk_blob_is_snapshot still true; spdk_blob_get_clones then counts 0 and vbdev_lvol_dump_info_json writes no clones)",
			steps: []step{
				malloc("cf16_m", 64),
				lvstore("cf16_m", "cf16_lvs"),
				lvol("cf16_lvs", "thin", 4),
				ok("bdev_lvol_get_fragmap", `{"name":"cf16_lvs/thin"}`, `{"cluster_size":1048576,"num_clusters":4,"num_allocated_clusters":0,"fragmap":"AA=="}`),
				ok("bdev_lvol_create", `{"lvs_name":"cf16_lvs","lvol_name":"thick","size_in_mib":2}`, `"<uuid>"`),
				ok("bdev_lvol_get_fragmap", `{"name":"cf16_lvs/thick"}`, `{"cluster_size":1048576,"num_clusters":2,"num_allocated_clusters":2,"fragmap":"Aw=="}`),
				ok("bdev_lvol_get_fragmap", `{"name":"cf16_lvs/thick","offset":1048576,"size":1048576}`, `{"cluster_size":1048576,"num_clusters":1,"num_allocated_clusters":1,"fragmap":"AQ=="}`),
				fails("bdev_lvol_get_fragmap", `{"name":"cf16_lvs/thin","offset":0,"size":67108864}`, -32602, "Invalid argument"),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf16_lvs/thin","snapshot_name":"s"}`, `"<uuid>"`),
				ok("bdev_lvol_clone", `{"snapshot_name":"cf16_lvs/s","clone_name":"c1"}`, `"<uuid>"`),
				ok("bdev_lvol_inflate", `{"name":"cf16_lvs/c1"}`, `true`),
				has("bdev_lvol_get_lvols", `{"lvs_name":"cf16_lvs"}`, `[{"name":"thin","is_clone":true},{"name":"thick"},{"name":"s","is_snapshot":true},{"name":"c1","is_clone":false,"is_thin_provisioned":false}]`),
				ok("bdev_lvol_decouple_parent", `{"name":"cf16_lvs/thin"}`, `true`),
				has("bdev_lvol_get_lvols", `{"lvs_name":"cf16_lvs"}`, `[{"name":"thin","is_clone":false,"is_thin_provisioned":true},{"name":"thick"},{"name":"s","is_snapshot":true},{"name":"c1"}]`),
				has("bdev_get_bdevs", `{"name":"cf16_lvs/s"}`, `[{"driver_specific":{"lvol":{"snapshot":true}}}]`).without("0.driver_specific.lvol.clones"),
				fails("bdev_lvol_decouple_parent", `{"name":"cf16_nope"}`, -19, "No such device"),
			},
			cleanup: []step{lvstoreDel("cf16_lvs"), mallocDel("cf16_m")},
		},
		{
			name: "cf17_lvol_name_length",
			cite: "include/spdk/lvol.h SPDK_LVOL_NAME_MAX 256; lib/lvol/lvol.c lvs_verify_lvol_name (-EINVAL when strnlen(name, SPDK_LVOL_NAME_MAX) is 0 or SPDK_LVOL_NAME_MAX: names of 1-255 bytes)",
			steps: []step{
				malloc("cf17_m", 64),
				lvstore("cf17_m", "cf17_lvs"),
				ok("bdev_lvol_create", `{"lvs_name":"cf17_lvs","lvol_name":"`+strings.Repeat("a", 64)+`","size_in_mib":1,"thin_provision":true}`, `"<uuid>"`),
				ok("bdev_lvol_create", `{"lvs_name":"cf17_lvs","lvol_name":"`+strings.Repeat("b", 255)+`","size_in_mib":1,"thin_provision":true}`, `"<uuid>"`),
				fails("bdev_lvol_create", `{"lvs_name":"cf17_lvs","lvol_name":"`+strings.Repeat("c", 256)+`","size_in_mib":1,"thin_provision":true}`, -22, "Invalid argument"),
			},
			cleanup: []step{lvstoreDel("cf17_lvs"), mallocDel("cf17_m")},
		},
	}
}
