package conformance

func init() {
	allCases = append(allCases, hotRemoveCases())
}

// hotRemoveCases: deleting a bdev something holds succeeds, and the holder
// lets go (issue 14 item 2), and every bdev not named by its UUID carries
// the UUID as an alias.
func hotRemoveCases() []tcase {
	const zero = "00000000-0000-0000-0000-000000000000"
	return []tcase{
		{
			name: "cf60_delete_raid_members",
			cite: "lib/bdev/bdev.c bdev_unregister_unsafe (SPDK_BDEV_EVENT_REMOVE to every open descriptor); module/bdev/raid/bdev_raid.c raid_bdev_event_base_bdev → _raid_bdev_remove_base_bdev, raid_bdev_free_base_bdev_resource (name freed, uuid zeroed on a raid not configuring), raid_bdev_remove_base_bdev_done (fewer than raid1's one operational member: deconfigure), raid_bdev_io_device_unregister_cb (no base bdev left: the raid is freed)",
			steps: []step{
				malloc("cf60_m1", 8),
				malloc("cf60_m2", 8),
				ok("bdev_raid_create", `{"name":"cf60_r","raid_level":"raid1","base_bdevs":["cf60_m1","cf60_m2"]}`, `true`),
				ok("bdev_malloc_delete", `{"name":"cf60_m1"}`, `true`),
				has("bdev_raid_get_bdevs", `{"category":"all"}`, `[{"name":"cf60_r","state":"online","num_base_bdevs":2,"num_base_bdevs_discovered":1,"num_base_bdevs_operational":1,
					"base_bdevs_list":[{"name":null,"uuid":"`+zero+`","is_configured":false},{"name":"cf60_m2","is_configured":true}]}]`).keep("cf60_r"),
				has("bdev_get_bdevs", `{"name":"cf60_r"}`, `[{"name":"cf60_r","product_name":"Raid Volume"}]`),
				ok("bdev_malloc_delete", `{"name":"cf60_m2"}`, `true`),
				ok("bdev_raid_get_bdevs", `{"category":"all"}`, `[]`).keep("cf60_r").wait(),
				fails("bdev_get_bdevs", `{"name":"cf60_r"}`, -19, "No such device"),
			},
			cleanup: []step{raidDel("cf60_r"), mallocDel("cf60_m1"), mallocDel("cf60_m2")},
		},
		{
			name: "cf61_delete_lvol_members_and_their_lvstore",
			cite: "module/bdev/lvol/vbdev_lvol.c vbdev_lvol_destroy (spdk_bdev_unregister of the lvol's bdev) and _vbdev_lvs_remove / vbdev_lvs_destruct (every lvol bdev unregistered before the lvstore goes); module/bdev/raid/bdev_raid.c as cf60",
			steps: []step{
				malloc("cf61_m", 64),
				lvstore("cf61_m", "cf61_lvs"),
				lvol("cf61_lvs", "a", 4),
				lvol("cf61_lvs", "b", 4),
				lvol("cf61_lvs", "c", 4),
				malloc("cf61_m1", 4),
				ok("bdev_raid_create", `{"name":"cf61_r","raid_level":"raid1","base_bdevs":["cf61_lvs/a","cf61_m1"]}`, `true`),
				ok("bdev_raid_create", `{"name":"cf61_r2","raid_level":"raid1","base_bdevs":["cf61_lvs/b","cf61_lvs/c"]}`, `true`),
				ok("bdev_lvol_delete", `{"name":"cf61_lvs/a"}`, `true`),
				has("bdev_raid_get_bdevs", `{"category":"all"}`, `[{"name":"cf61_r","state":"online","num_base_bdevs_discovered":1,
					"base_bdevs_list":[{"name":null,"uuid":"`+zero+`","is_configured":false},{"name":"cf61_m1","is_configured":true}]},{"name":"cf61_r2","state":"online","num_base_bdevs_discovered":2}]`).keep("cf61_r"),
				ok("bdev_lvol_delete_lvstore", `{"lvs_name":"cf61_lvs"}`, `true`),
				has("bdev_raid_get_bdevs", `{"category":"all"}`, `[{"name":"cf61_r","num_base_bdevs_discovered":1}]`).keep("cf61_r").wait(),
				fails("bdev_get_bdevs", `{"name":"cf61_r2"}`, -19, "No such device"),
				ok("bdev_lvol_get_lvstores", ``, `[]`).keep("cf61_lvs"),
				has("bdev_get_bdevs", `{"name":"cf61_m"}`, `[{"name":"cf61_m","claimed":false}]`),
			},
			cleanup: []step{raidDel("cf61_r"), raidDel("cf61_r2"), lvstoreDel("cf61_lvs"), mallocDel("cf61_m"), mallocDel("cf61_m1")},
		},
		{
			name:  "cf62_delete_disk_under_lvstore",
			cite:  "module/bdev/lvol/vbdev_lvol.c vbdev_lvs_hotremove_cb (the lvstore's base goes: the lvstore is unloaded, not destroyed, its lvol bdevs unregistered) and vbdev_lvs_examine (an lvstore found on a new bdev is loaded); module/bdev/aio/bdev_aio_rpc.c rpc_bdev_aio_delete; module/bdev/raid/bdev_raid.c as cf60",
			files: map[string]int64{"cf62.img": 64 << 20},
			steps: []step{
				ok("bdev_aio_create", `{"name":"cf62_a","filename":"{{dir}}/cf62.img","block_size":512}`, `"cf62_a"`),
				lvstore("cf62_a", "cf62_lvs"),
				lvol("cf62_lvs", "v", 4),
				ok("bdev_raid_create", `{"name":"cf62_r","raid_level":"raid1","base_bdevs":["cf62_lvs/v"]}`, `true`),
				ok("bdev_aio_delete", `{"name":"cf62_a"}`, `true`),
				ok("bdev_raid_get_bdevs", `{"category":"all"}`, `[]`).keep("cf62_r").wait(),
				ok("bdev_lvol_get_lvstores", ``, `[]`).keep("cf62_lvs"),
				fails("bdev_get_bdevs", `{"name":"cf62_lvs/v"}`, -19, "No such device"),
				ok("bdev_aio_create", `{"name":"cf62_a","filename":"{{dir}}/cf62.img","block_size":512}`, `"cf62_a"`),
				has("bdev_get_bdevs", `{"name":"cf62_lvs/v","timeout":5000}`, `[{"name":"{{v}}","aliases":["cf62_lvs/v"],"claimed":false}]`),
			},
			cleanup: []step{raidDel("cf62_r"), lvstoreDel("cf62_lvs"), do("bdev_aio_delete", `{"name":"cf62_a"}`)},
		},
		{
			name: "cf63_delete_base_of_error_bdev",
			cite: "module/bdev/error/vbdev_error.c vbdev_error_base_bdev_event_cb → spdk_bdev_part_base_hotremove (the EE_ bdev goes with its base), vbdev_error_destruct (the configuration goes with the EE_ bdev, so its base coming back gets none), vbdev_error_config_add (-EEXIST for a base already configured) and vbdev_error_examine; module/bdev/error/vbdev_error_rpc.c rpc_bdev_error_create",
			steps: []step{
				malloc("cf63_m", 8),
				ok("bdev_error_create", `{"base_name":"cf63_m"}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf63_m"}`, `[{"claimed":true}]`),
				ok("bdev_malloc_delete", `{"name":"cf63_m"}`, `true`),
				fails("bdev_get_bdevs", `{"name":"EE_cf63_m"}`, -19, "No such device"),
				malloc("cf63_m", 8),
				fails("bdev_get_bdevs", `{"name":"EE_cf63_m"}`, -19, "No such device"),
				has("bdev_get_bdevs", `{"name":"cf63_m"}`, `[{"claimed":false}]`),
				ok("bdev_error_create", `{"base_name":"cf63_m"}`, `true`),
				fails("bdev_error_create", `{"base_name":"cf63_m"}`, -17, "File exists"),
				has("bdev_get_bdevs", `{"name":"EE_cf63_m"}`, `[{"name":"EE_cf63_m","product_name":"Error Injection Disk"}]`),
				ok("bdev_error_delete", `{"name":"EE_cf63_m"}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf63_m"}`, `[{"claimed":false}]`),
			},
			cleanup: []step{do("bdev_error_delete", `{"name":"EE_cf63_m"}`), mallocDel("cf63_m")},
		},
		{
			name: "cf64_delete_member_of_configuring_raid",
			cite: "module/bdev/raid/bdev_raid.c _raid_bdev_remove_base_bdev (a raid not online: the member's resources freed, raid_bdev_free_base_bdev_resource keeps the slot's uuid while configuring; the raid is freed only when offline with no base bdev)",
			steps: []step{
				ok("bdev_malloc_create", `{"name":"cf64_m1","num_blocks":8192,"block_size":512,"uuid":"6a0e3c55-1b2f-4d8e-9c7a-3e5f1d2b4c64"}`, `"cf64_m1"`),
				ok("bdev_raid_create", `{"name":"cf64_r","raid_level":"raid1","base_bdevs":["cf64_m1","cf64_later"]}`, `true`),
				has("bdev_raid_get_bdevs", `{"category":"configuring"}`, `[{"name":"cf64_r","num_base_bdevs_discovered":1}]`).keep("cf64_r"),
				ok("bdev_malloc_delete", `{"name":"cf64_m1"}`, `true`),
				has("bdev_raid_get_bdevs", `{"category":"configuring"}`, `[{"name":"cf64_r","state":"configuring","num_base_bdevs":2,"num_base_bdevs_discovered":0,
					"base_bdevs_list":[{"name":null,"uuid":"6a0e3c55-1b2f-4d8e-9c7a-3e5f1d2b4c64","is_configured":false},{"name":"cf64_later","is_configured":false}]}]`).keep("cf64_r"),
			},
			cleanup: []step{raidDel("cf64_r"), mallocDel("cf64_m1")},
		},
		{
			name:  "cf65_uuid_alias",
			cite:  "lib/bdev/bdev.c bdev_register (the UUID is added as an alias unless it is the bdev's name); lib/bdev/bdev_rpc.c rpc_dump_bdev_info (aliases); module/bdev/lvol/vbdev_lvol.c _create_lvol_disk (an lvol is named by its UUID, aliased <lvs>/<lvol>)",
			files: map[string]int64{"cf65.img": 4 << 20},
			steps: []step{
				ok("bdev_malloc_create", `{"name":"cf65_m","num_blocks":8192,"block_size":512,"uuid":"6a0e3c55-1b2f-4d8e-9c7a-3e5f1d2b4c65"}`, `"cf65_m"`),
				has("bdev_get_bdevs", `{"name":"cf65_m"}`, `[{"name":"cf65_m","aliases":["6a0e3c55-1b2f-4d8e-9c7a-3e5f1d2b4c65"]}]`),
				ok("bdev_malloc_create", `{"name":"7b1f4d66-2c3a-4e9f-8d8b-4f6a2e3c5d65","num_blocks":8192,"block_size":512,"uuid":"7b1f4d66-2c3a-4e9f-8d8b-4f6a2e3c5d65"}`, `"7b1f4d66-2c3a-4e9f-8d8b-4f6a2e3c5d65"`),
				has("bdev_get_bdevs", `{"name":"7b1f4d66-2c3a-4e9f-8d8b-4f6a2e3c5d65"}`, `[{"aliases":[]}]`),
				ok("bdev_aio_create", `{"name":"cf65_a","filename":"{{dir}}/cf65.img","block_size":512,"uuid":"8c2a5e77-3d4b-4fa0-9e9c-5a7b3f4d6e65"}`, `"cf65_a"`),
				has("bdev_get_bdevs", `{"name":"cf65_a"}`, `[{"aliases":["8c2a5e77-3d4b-4fa0-9e9c-5a7b3f4d6e65"]}]`),
				malloc("cf65_m1", 4),
				ok("bdev_raid_create", `{"name":"cf65_r","raid_level":"raid1","base_bdevs":["cf65_m1"],"uuid":"9d3b6f88-4e5c-4ab1-8f0d-6b8c4a5e7f65"}`, `true`),
				has("bdev_get_bdevs", `{"name":"cf65_r"}`, `[{"aliases":["9d3b6f88-4e5c-4ab1-8f0d-6b8c4a5e7f65"]}]`),
				fails("bdev_malloc_create", `{"name":"9d3b6f88-4e5c-4ab1-8f0d-6b8c4a5e7f65","num_blocks":8192,"block_size":512}`, -17, "File exists"),
			},
			cleanup: []step{raidDel("cf65_r"), mallocDel("cf65_m1"), mallocDel("cf65_m"), mallocDel("7b1f4d66-2c3a-4e9f-8d8b-4f6a2e3c5d65"), do("bdev_aio_delete", `{"name":"cf65_a"}`)},
		},
		{
			name:  "cf66_lvstore_capacity",
			cite:  "lib/lvol/lvol.c setup_lvs_opts (num_md_pages = num_md_pages_per_cluster_ratio × clusters / 100) and lib/blob/blobstore.c spdk_bs_init (super block, used-page, used-cluster and used-blobid masks and the metadata pages, rounded up to whole clusters, are not data clusters); values seen on spdk_tgt v24.09.1-pre 1975133e9",
			files: map[string]int64{"cf66a.img": 1 << 30, "cf66b.img": 1 << 30},
			steps: []step{
				ok("bdev_aio_create", `{"name":"cf66_a","filename":"{{dir}}/cf66a.img","block_size":512}`, `"cf66_a"`),
				lvstore("cf66_a", "cf66_lvs"),
				has("bdev_lvol_get_lvstores", `{"lvs_name":"cf66_lvs"}`, `[{"name":"cf66_lvs","total_data_clusters":1019,"free_clusters":1019,"cluster_size":1048576}]`),
				ok("bdev_aio_create", `{"name":"cf66_b","filename":"{{dir}}/cf66b.img","block_size":512}`, `"cf66_b"`),
				ok("bdev_lvol_create_lvstore", `{"bdev_name":"cf66_b","lvs_name":"cf66_lvs2","cluster_sz":4194304,"num_md_pages_per_cluster_ratio":50}`, `"<uuid>"`),
				has("bdev_lvol_get_lvstores", `{"lvs_name":"cf66_lvs2"}`, `[{"name":"cf66_lvs2","total_data_clusters":255,"cluster_size":4194304}]`),
			},
			cleanup: []step{lvstoreDel("cf66_lvs"), lvstoreDel("cf66_lvs2"), do("bdev_aio_delete", `{"name":"cf66_a"}`), do("bdev_aio_delete", `{"name":"cf66_b"}`)},
		},
	}
}
