package conformance

func init() {
	allCases = append(allCases, miscCases())
}

func miscCases() []tcase {
	restore := []step{
		do("log_set_level", `{"level":"NOTICE"}`),
		do("log_set_print_level", `{"level":"INFO"}`),
		do("log_clear_flag", `{"flag":"bdev_raid*"}`),
	}
	return []tcase{
		{
			name: "cf50_log_levels",
			cite: "lib/event/log_rpc.c rpc_log_set_level, rpc_log_get_level, rpc_log_set_print_level, rpc_log_get_print_level (_parse_log_level: ERROR, WARNING, NOTICE, INFO, DEBUG, case-insensitive; -32602 \"invalid log level\"; decode -32603; \"<method> requires no parameters\" -32602)",
			steps: []step{
				ok("log_set_level", `{"level":"debug"}`, `true`),
				ok("log_get_level", ``, `"DEBUG"`),
				ok("log_set_level", `{"level":"Warning"}`, `true`),
				ok("log_get_level", ``, `"WARNING"`),
				ok("log_set_print_level", `{"level":"error"}`, `true`),
				ok("log_get_print_level", ``, `"ERROR"`),
				ok("log_set_print_level", `{"level":"INFO"}`, `true`),
				ok("log_get_print_level", ``, `"INFO"`),
				ok("log_set_level", `{"level":"NOTICE"}`, `true`),
				ok("log_get_level", ``, `"NOTICE"`),
				fails("log_set_level", `{"level":"LOUD"}`, -32602, "invalid log level"),
				fails("log_set_print_level", `{"level":"LOUD"}`, -32602, "invalid log level"),
				fails("log_set_level", ``, -32603, "spdk_json_decode_object failed"),
				fails("log_set_print_level", `{"lvl":"INFO"}`, -32603, "spdk_json_decode_object failed"),
				fails("log_get_level", `{"x":1}`, -32602, "log_get_level requires no parameters"),
				fails("log_get_print_level", `{}`, -32602, "log_get_print_level requires no parameters"),
			},
			cleanup: restore,
		},
		{
			name: "cf51_log_flags",
			cite: "lib/event/log_rpc.c rpc_log_set_flag, rpc_log_clear_flag (-32602 \"invalid log flag\", decode -32603), rpc_log_get_flags (an object of every registered component, -32602 \"log_get_flags requires no parameters\"); lib/log/log_flags.c spdk_log_set_flag/log_set_flag_by_name (\"all\", fnmatch globs, FNM_CASEFOLD)",
			steps: []step{
				ok("log_set_flag", `{"flag":"bdev_raid"}`, `true`),
				has("log_get_flags", ``, `{"bdev_raid":true,"lvol":false}`),
				ok("log_clear_flag", `{"flag":"bdev_raid"}`, `true`),
				has("log_get_flags", ``, `{"bdev_raid":false}`),
				ok("log_set_flag", `{"flag":"BDEV_RAID*"}`, `true`),
				has("log_get_flags", ``, `{"bdev_raid":true,"bdev_raid1":true,"lvol":false}`),
				ok("log_clear_flag", `{"flag":"bdev_raid*"}`, `true`),
				has("log_get_flags", ``, `{"bdev_raid":false,"bdev_raid1":false}`),
				fails("log_set_flag", `{"flag":"cf51_nosuch"}`, -32602, "invalid log flag"),
				fails("log_clear_flag", `{"flag":"cf51_nosuch"}`, -32602, "invalid log flag"),
				fails("log_set_flag", `{}`, -32603, "spdk_json_decode_object failed"),
				fails("log_get_flags", `{}`, -32602, "log_get_flags requires no parameters"),
			},
			cleanup: restore,
		},
	}
}
