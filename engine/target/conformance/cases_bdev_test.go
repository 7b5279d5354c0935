package conformance

func init() {
	allCases = append(allCases, bdevCases())
}

// ioTypes is every I/O type lib/bdev/bdev.c g_io_type_strings names, set
// to false, for building supported_io_types objects.
var ioTypes = []string{"read", "write", "unmap", "flush", "reset", "nvme_admin", "nvme_io", "nvme_io_md",
	"write_zeroes", "zcopy", "get_zone_info", "zone_management", "zone_append", "compare",
	"compare_and_write", "abort", "seek_hole", "seek_data", "copy", "nvme_iov_md"}

// supported renders a supported_io_types object with the given types true.
func supported(on ...string) string {
	s := "{"
	for i, t := range ioTypes {
		v := "false"
		for _, o := range on {
			if o == t {
				v = "true"
			}
		}
		if i > 0 {
			s += ","
		}
		s += `"` + t + `":` + v
	}
	return s + "}"
}

func bdevCases() []tcase {
	return []tcase{
		{
			name:  "cf30_aio_block_size",
			cite:  "module/bdev/aio/bdev_aio.c create_aio_bdev (a regular file has no detectable block size: \"Block size could not be auto-detected\" is logged and -EINVAL returned; a given block size sets block_size_override; below 512 or not a power of two -EINVAL), bdev_aio_dump_info_json (filename, block_size_override, readonly, fallocate); module/bdev/aio/bdev_aio_rpc.c rpc_bdev_aio_create (strerror of the error; decode -32603: the fork has no nowait), rpc_bdev_aio_delete",
			files: map[string]int64{"cf30.img": 1 << 20},
			steps: []step{
				fails("bdev_aio_create", `{"name":"cf30_a","filename":"{{dir}}/cf30.img"}`, -22, "Invalid argument"),
				fails("bdev_aio_create", `{"name":"cf30_a","filename":"{{dir}}/cf30.img","block_size":256}`, -22, "Invalid argument"),
				fails("bdev_aio_create", `{"name":"cf30_a","filename":"{{dir}}/cf30.img","block_size":512,"nowait":true}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_aio_create", `{"name":"cf30_a","filename":"{{dir}}/cf30_missing.img","block_size":512}`, -2, "No such file or directory"),
				fails("bdev_get_bdevs", `{"name":"cf30_a"}`, -19, "No such device"),
				ok("bdev_aio_create", `{"name":"cf30_a","filename":"{{dir}}/cf30.img","block_size":4096}`, `"cf30_a"`),
				has("bdev_get_bdevs", `{"name":"cf30_a"}`, `[{"name":"cf30_a","product_name":"AIO disk","block_size":4096,"num_blocks":256,"uuid":"<uuid>","creation_time":"","claimed":false,"zoned":false,
					"driver_specific":{"aio":{"filename":"{{dir}}/cf30.img","block_size_override":true,"readonly":false,"fallocate":false}}}]`).without("0.md_size", "0.md_interleave", "0.dif_type", "0.claim_type"),
				fails("bdev_aio_create", `{"name":"cf30_a","filename":"{{dir}}/cf30.img","block_size":512}`, -17, "File exists"),
				ok("bdev_aio_delete", `{"name":"cf30_a"}`, `true`),
				ok("bdev_aio_create", `{"name":"cf30_b","filename":"{{dir}}/cf30.img","block_size":512,"readonly":true,"fallocate":true}`, `"cf30_b"`),
				has("bdev_get_bdevs", `{"name":"cf30_b"}`, `[{"block_size":512,"num_blocks":2048,"driver_specific":{"aio":{"filename":"{{dir}}/cf30.img","block_size_override":true,"readonly":true,"fallocate":true}}}]`),
				ok("bdev_aio_delete", `{"name":"cf30_b"}`, `true`),
				fails("bdev_aio_delete", `{"name":"cf30_b"}`, -19, "No such device"),
			},
			cleanup: []step{do("bdev_aio_delete", `{"name":"cf30_a"}`), do("bdev_aio_delete", `{"name":"cf30_b"}`)},
		},
		{
			name:  "cf31_bdev_object_fields",
			cite:  "lib/bdev/bdev_rpc.c rpc_dump_bdev_info (creation_time \"\" when the bdev has none; md_size, md_interleave, dif_type only when md_size != 0; assigned_rate_limits; claim_type only when claimed; supported_io_types over g_io_type_strings); module/bdev/malloc/bdev_malloc.c bdev_malloc_io_type_supported; module/bdev/aio/bdev_aio.c bdev_aio_io_type_supported; module/bdev/lvol/vbdev_lvol.c vbdev_lvol_io_type_supported; lib/bdev/bdev.c spdk_bdev_io_type_supported (write_zeroes emulated where write works)",
			files: map[string]int64{"cf31.img": 4 << 20},
			steps: []step{
				malloc("cf31_m", 64),
				has("bdev_get_bdevs", `{"name":"cf31_m"}`, `[{"name":"cf31_m","product_name":"Malloc disk","block_size":512,"num_blocks":131072,"uuid":"<uuid>","creation_time":"",
					"assigned_rate_limits":{"rw_ios_per_sec":0,"rw_mbytes_per_sec":0,"r_mbytes_per_sec":0,"w_mbytes_per_sec":0},"claimed":false,"zoned":false,
					"supported_io_types":`+supported("read", "write", "flush", "reset", "unmap", "write_zeroes", "zcopy", "abort", "copy")+`}]`).without("0.md_size", "0.md_interleave", "0.dif_type", "0.claim_type"),
				ok("bdev_aio_create", `{"name":"cf31_a","filename":"{{dir}}/cf31.img","block_size":512}`, `"cf31_a"`),
				has("bdev_get_bdevs", `{"name":"cf31_a"}`, `[{"creation_time":"","supported_io_types":`+supported("read", "write", "flush", "reset", "write_zeroes")+`}]`).without("0.md_size"),
				lvstore("cf31_m", "cf31_lvs"),
				lvol("cf31_lvs", "v", 4),
				ok("bdev_lvol_snapshot", `{"lvol_name":"cf31_lvs/v","snapshot_name":"s"}`, `"<uuid>"`),
				has("bdev_get_bdevs", `{"name":"cf31_lvs/v"}`, `[{"creation_time":"<time>","supported_io_types":`+supported("read", "write", "unmap", "write_zeroes", "flush", "reset", "seek_data", "seek_hole")+`}]`).without("0.md_size"),
				has("bdev_get_bdevs", `{"name":"cf31_lvs/s"}`, `[{"creation_time":"<time>","supported_io_types":`+supported("read", "flush", "reset", "seek_data", "seek_hole")+`}]`).without("0.md_size"),
				fails("bdev_get_bdevs", `{"name":"cf31_nope"}`, -19, "No such device"),
				fails("bdev_get_bdevs", `{"nam":"cf31_m"}`, -32603, "spdk_json_decode_object failed"),
				// Aliases: cf65_uuid_alias.
			},
			cleanup: []step{lvstoreDel("cf31_lvs"), mallocDel("cf31_m"), do("bdev_aio_delete", `{"name":"cf31_a"}`)},
		},
		{
			name: "cf32_malloc",
			cite: "module/bdev/malloc/bdev_malloc_rpc.c rpc_bdev_malloc_create (the name as result), rpc_bdev_malloc_delete (-ENODEV); module/bdev/malloc/bdev_malloc.c create_malloc_disk (-EINVAL block size not a multiple of 512, -EEXIST via spdk_bdev_register)",
			steps: []step{
				ok("bdev_malloc_create", `{"name":"cf32_m","num_blocks":2048,"block_size":4096,"uuid":"0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d32"}`, `"cf32_m"`),
				has("bdev_get_bdevs", `{"name":"cf32_m"}`, `[{"name":"cf32_m","block_size":4096,"num_blocks":2048,"uuid":"0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d32"}]`),
				has("bdev_get_bdevs", `{"name":"0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d32"}`, `[{"name":"cf32_m"}]`),
				fails("bdev_malloc_create", `{"name":"cf32_m","num_blocks":2048,"block_size":512}`, -17, "File exists"),
				fails("bdev_malloc_create", `{"name":"cf32_x","num_blocks":8,"block_size":100}`, -22, "Invalid argument"),
				ok("bdev_malloc_delete", `{"name":"cf32_m"}`, `true`),
				fails("bdev_malloc_delete", `{"name":"cf32_m"}`, -19, "No such device"),
			},
			cleanup: []step{mallocDel("cf32_m"), mallocDel("cf32_x")},
		},
		{
			name: "cf33_qos_limit",
			cite: "lib/bdev/bdev_rpc.c rpc_bdev_set_qos_limit (\"No rate limits specified\", -EINVAL; decode -32603; unknown bdev -ENODEV); lib/bdev/bdev.c spdk_bdev_set_qos_rate_limits (IOPS rounded up to a multiple of 1000; 0 clears one, unspecified ones kept) and spdk_bdev_get_qos_rate_limits (MB/s reported as given)",
			steps: []step{
				malloc("cf33_m", 8),
				ok("bdev_set_qos_limit", `{"name":"cf33_m","rw_ios_per_sec":1500,"w_mbytes_per_sec":10}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf33_m"}`, `[{"assigned_rate_limits":{"rw_ios_per_sec":2000,"rw_mbytes_per_sec":0,"r_mbytes_per_sec":0,"w_mbytes_per_sec":10}}]`),
				ok("bdev_set_qos_limit", `{"name":"cf33_m","rw_ios_per_sec":0}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf33_m"}`, `[{"assigned_rate_limits":{"rw_ios_per_sec":0,"rw_mbytes_per_sec":0,"r_mbytes_per_sec":0,"w_mbytes_per_sec":10}}]`),
				ok("bdev_set_qos_limit", `{"name":"cf33_m","w_mbytes_per_sec":0}`, `true`),
				fails("bdev_set_qos_limit", `{"name":"cf33_nope","rw_ios_per_sec":1000}`, -19, "No such device"),
				fails("bdev_set_qos_limit", `{"name":"cf33_m"}`, -22, "No rate limits specified"),
				fails("bdev_set_qos_limit", `{"rw_ios_per_sec":1000}`, -32603, "spdk_json_decode_object failed"),
			},
			cleanup: []step{mallocDel("cf33_m")},
		},
		{
			name: "cf34_iostat",
			cite: "lib/bdev/bdev_rpc.c rpc_bdev_get_iostat (tick_rate, ticks, bdevs[] per bdev, or name and channels[] with per_channel; -ENODEV unknown; per_channel without name -EINVAL; decode -32603) and bdev_get_iostat_dump (per-bdev counters)",
			steps: []step{
				malloc("cf34_m", 8),
				has("bdev_get_iostat", `{"name":"cf34_m"}`, `{"tick_rate":"<any>","ticks":"<any>","bdevs":[{"name":"cf34_m","bytes_read":"<any>","num_read_ops":"<any>","bytes_written":"<any>","num_write_ops":"<any>","bytes_unmapped":"<any>","num_unmap_ops":"<any>","read_latency_ticks":"<any>","write_latency_ticks":"<any>"}]}`),
				has("bdev_get_iostat", `{"name":"cf34_m","per_channel":true}`, `{"tick_rate":"<any>","ticks":"<any>","name":"cf34_m","channels":[]}`),
				fails("bdev_get_iostat", `{"name":"cf34_nope"}`, -19, "No such device"),
				fails("bdev_get_iostat", `{"per_channel":true}`, -22, "Invalid argument"),
				fails("bdev_get_iostat", `{"x":1}`, -32603, "spdk_json_decode_object failed"),
			},
			cleanup: []step{mallocDel("cf34_m")},
		},
		{
			name: "cf35_examine",
			cite: "lib/bdev/bdev_rpc.c rpc_bdev_wait_for_examine (\"bdev_wait_for_examine requires no parameters\", -32602) and rpc_bdev_examine (decode -32602; spdk_bdev_examine's error as strerror); lib/bdev/bdev.c spdk_bdev_examine (-EINVAL while bdev_auto_examine is on, spdk_tgt's default)",
			steps: []step{
				malloc("cf35_m", 8),
				ok("bdev_wait_for_examine", ``, `true`),
				fails("bdev_wait_for_examine", `{}`, -32602, "bdev_wait_for_examine requires no parameters"),
				fails("bdev_examine", `{"name":"cf35_m"}`, -22, "Invalid argument"),
				fails("bdev_examine", `{}`, -32602, "spdk_json_decode_object failed"),
			},
			cleanup: []step{mallocDel("cf35_m")},
		},
		{
			name: "cf36_error_bdev",
			cite: "module/bdev/error/vbdev_error_rpc.c rpc_bdev_error_create (decode -32603, strerror of vbdev_error_create), rpc_bdev_error_delete (-ENODEV), rpc_bdev_error_inject_error (decode -32603: io_type/error_type decoders, corrupt_value a uint8; -EINVAL corrupt_data with corrupt_value 0; -ENODEV); module/bdev/error/vbdev_error.c _vbdev_error_create (EE_<base>, -EEXIST, claim exclusive_write, -EPERM base claimed), vbdev_error_dump_info_json (error_disk.base_bdev)",
			steps: []step{
				malloc("cf36_m", 8),
				malloc("cf36_m2", 64),
				ok("bdev_error_create", `{"base_name":"cf36_m"}`, `true`),
				has("bdev_get_bdevs", `{"name":"EE_cf36_m"}`, `[{"name":"EE_cf36_m","product_name":"Error Injection Disk","block_size":512,"num_blocks":16384,"claimed":false,"driver_specific":{"error_disk":{"base_bdev":"cf36_m"}}}]`),
				has("bdev_get_bdevs", `{"name":"cf36_m"}`, `[{"claimed":true,"claim_type":"exclusive_write"}]`),
				fails("bdev_error_create", `{"base_name":"cf36_m"}`, -17, "File exists"),
				ok("bdev_error_inject_error", `{"name":"EE_cf36_m","io_type":"write","error_type":"failure","num":3}`, `true`),
				ok("bdev_error_inject_error", `{"name":"EE_cf36_m","io_type":"clear","error_type":"failure"}`, `true`),
				fails("bdev_error_inject_error", `{"name":"EE_cf36_m","io_type":"write_zeroes","error_type":"failure"}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_error_inject_error", `{"name":"EE_cf36_m","io_type":"read","error_type":"eio"}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_error_inject_error", `{"name":"EE_cf36_m","io_type":"read","error_type":"corrupt_data","corrupt_value":256}`, -32603, "spdk_json_decode_object failed"),
				fails("bdev_error_inject_error", `{"name":"EE_cf36_m","io_type":"read","error_type":"corrupt_data"}`, -22, "Invalid argument"),
				fails("bdev_error_inject_error", `{"name":"cf36_nope","io_type":"all","error_type":"failure"}`, -19, "No such device"),
				fails("bdev_error_inject_error", `{"name":"cf36_m2","io_type":"all","error_type":"failure"}`, -19, "No such device"),
				fails("bdev_error_create", `{"uuid":"0b1d1c4e-5c9c-4f4d-8d8e-2f3a4b5c6d36"}`, -32603, "spdk_json_decode_object failed"),
				lvstore("cf36_m2", "cf36_lvs"),
				fails("bdev_error_create", `{"base_name":"cf36_m2"}`, -1, "Operation not permitted"),
				ok("bdev_error_delete", `{"name":"EE_cf36_m"}`, `true`),
				fails("bdev_error_delete", `{"name":"EE_cf36_m"}`, -19, "No such device"),
				fails("bdev_error_delete", `{"name":"cf36_m"}`, -19, "No such device"),
				has("bdev_get_bdevs", `{"name":"cf36_m"}`, `[{"claimed":false}]`),
			},
			cleanup: []step{do("bdev_error_delete", `{"name":"EE_cf36_m"}`), do("bdev_error_delete", `{"name":"EE_cf36_m2"}`), lvstoreDel("cf36_lvs"), mallocDel("cf36_m"), mallocDel("cf36_m2")},
		},
		{
			name: "cf37_supported_io_types_raid",
			cite: "module/bdev/raid/bdev_raid.c raid_bdev_io_type_supported and _raid_bdev_io_type_supported (read, write; flush, reset, unmap when every member supports them and the level has submit_null_payload_request, which raid1 has: module/bdev/raid/raid1.c); lib/bdev/bdev.c spdk_bdev_io_type_supported (write_zeroes emulated)",
			steps: []step{
				malloc("cf37_a", 8),
				malloc("cf37_b", 8),
				ok("bdev_raid_create", `{"name":"cf37_r","raid_level":"raid1","base_bdevs":["cf37_a","cf37_b"]}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf37_r"}`, `[{"supported_io_types":`+supported("read", "write", "flush", "reset", "unmap", "write_zeroes")+`}]`),
			},
			cleanup: []step{raidDel("cf37_r"), mallocDel("cf37_a"), mallocDel("cf37_b")},
		},
		{
			name: "cf38_supported_io_types_error_bdev",
			cite: "module/bdev/error/vbdev_error.c (an spdk_bdev_part) and lib/bdev/part.c bdev_part_io_type_supported (the base bdev's types, without the NVMe passthrough ones); module/bdev/malloc/bdev_malloc.c bdev_malloc_io_type_supported",
			steps: []step{
				malloc("cf38_m", 8),
				ok("bdev_error_create", `{"base_name":"cf38_m"}`, `true`),
				has("bdev_get_bdevs", `{"name":"EE_cf38_m"}`, `[{"supported_io_types":`+supported("read", "write", "flush", "reset", "unmap", "write_zeroes", "zcopy", "abort", "copy")+`}]`),
			},
			cleanup: []step{do("bdev_error_delete", `{"name":"EE_cf38_m"}`), mallocDel("cf38_m")},
		},
		{
			name: "cf39_get_bdevs_timeout",
			cite: "lib/bdev/bdev_rpc.c rpc_bdev_get_bdevs (with timeout, spdk_bdev_wait_for... and its error as strerror) and lib/bdev/bdev.c (-ETIMEDOUT when the bdev did not appear in time)",
			steps: []step{
				fails("bdev_get_bdevs", `{"name":"cf39_nope","timeout":30}`, -110, "Connection timed out"),
				fails("bdev_get_bdevs", `{"name":"cf39_nope","timeout":0}`, -19, "No such device"),
			},
		},
		{
			name:  "cf19_memory_domains",
			cite:  "lib/bdev/bdev_rpc.c rpc_dump_bdev_info (memory_domains: dma_device_id, dma_device_type, when spdk_bdev_get_memory_domains reports any); module/bdev/malloc/bdev_malloc.c bdev_malloc_get_memory_domains (the system domain and accel's SPDK_ACCEL_DMA_DEVICE); module/bdev/aio/bdev_aio.c (no get_memory_domains: no field); seen on spdk_tgt v24.09.1-pre 1975133e9",
			files: map[string]int64{"cf19.img": 1 << 20},
			steps: []step{
				malloc("cf19_m", 8),
				has("bdev_get_bdevs", `{"name":"cf19_m"}`, `[{"memory_domains":[{"dma_device_id":"system","dma_device_type":1},{"dma_device_id":"SPDK_ACCEL_DMA_DEVICE","dma_device_type":2}]}]`),
				ok("bdev_aio_create", `{"name":"cf19_a","filename":"{{dir}}/cf19.img","block_size":512}`, `"cf19_a"`),
				has("bdev_get_bdevs", `{"name":"cf19_a"}`, `[{"name":"cf19_a"}]`).without("0.memory_domains"),
			},
			cleanup: []step{mallocDel("cf19_m"), do("bdev_aio_delete", `{"name":"cf19_a"}`)},
		},
	}
}
