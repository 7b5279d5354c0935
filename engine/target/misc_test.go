package target

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHousekeepingMethods checks the cheap methods Longhorn calls against
// SPDK v24.09: lib/event/log_rpc.c and lib/log/log_flags.c for log_*;
// lib/bdev/bdev_rpc.c for bdev_wait_for_examine, bdev_examine,
// bdev_get_iostat and bdev_set_qos_limit; lib/bdev/bdev.c
// spdk_bdev_examine (-EINVAL while auto examine is on),
// spdk_bdev_set_qos_rate_limits (IOPS rounded up to 1000s) and
// spdk_bdev_get_qos_rate_limits (MB/s reported).
func TestHousekeepingMethods(t *testing.T) {
	fx := newFixture(t, false)
	errs := []struct {
		name, method string
		params       any
		code         int
		msg          string
	}{
		{"set_level bad", "log_set_level", map[string]any{"level": "LOUD"}, -32602, "invalid log level"},
		{"set_level no params", "log_set_level", nil, -32603, "spdk_json_decode_object failed"},
		{"get_level params", "log_get_level", map[string]any{"x": 1}, -32602, "log_get_level requires no parameters"},
		{"get_print_level params", "log_get_print_level", map[string]any{}, -32602, "log_get_print_level requires no parameters"},
		{"set_flag unknown", "log_set_flag", map[string]any{"flag": "nosuch"}, -32602, "invalid log flag"},
		{"clear_flag unknown", "log_clear_flag", map[string]any{"flag": "nosuch"}, -32602, "invalid log flag"},
		{"get_flags params", "log_get_flags", map[string]any{}, -32602, "log_get_flags requires no parameters"},
		{"wait_for_examine params", "bdev_wait_for_examine", map[string]any{}, -32602, "bdev_wait_for_examine requires no parameters"},
		{"examine with auto examine", "bdev_examine", map[string]any{"name": "disk0"}, -22, "Invalid argument"},
		{"examine no name", "bdev_examine", map[string]any{}, -32602, "spdk_json_decode_object failed"},
		{"iostat unknown", "bdev_get_iostat", map[string]any{"name": "nope"}, -19, "No such device"},
		{"iostat per_channel no name", "bdev_get_iostat", map[string]any{"per_channel": true}, -22, "Invalid argument"},
		{"iostat bad key", "bdev_get_iostat", map[string]any{"x": 1}, -32603, "spdk_json_decode_object failed"},
		{"qos unknown", "bdev_set_qos_limit", map[string]any{"name": "nope", "rw_ios_per_sec": 1}, -19, "No such device"},
		{"qos no limits", "bdev_set_qos_limit", map[string]any{"name": "disk0"}, -22, "No rate limits specified"},
		{"qos no name", "bdev_set_qos_limit", map[string]any{"rw_ios_per_sec": 1}, -32603, "spdk_json_decode_object failed"},
	}
	for _, c := range errs {
		err := fx.call(c.method, c.params, nil)
		code, msg, _ := rpcCode(err)
		if code != c.code || msg != c.msg {
			t.Errorf("%s: err = %v, want %d %q", c.name, err, c.code, c.msg)
		}
	}

	var level string
	fx.must("log_get_level", nil, &level)
	if level != "NOTICE" {
		t.Errorf("default log level %q, want NOTICE", level)
	}
	fx.must("log_get_print_level", nil, &level)
	if level != "INFO" {
		t.Errorf("default print level %q, want INFO", level)
	}
	fx.must("log_set_level", map[string]any{"level": "debug"}, nil)
	fx.must("log_get_level", nil, &level)
	if level != "DEBUG" {
		t.Errorf("log level after set debug = %q", level)
	}
	fx.must("log_set_flag", map[string]any{"flag": "BDEV_RAID*"}, nil)
	var raw json.RawMessage
	fx.must("log_get_flags", nil, &raw)
	var flags map[string]bool
	if err := json.Unmarshal(raw, &flags); err != nil {
		t.Fatal(err)
	}
	if !flags["bdev_raid"] || !flags["bdev_raid1"] || flags["bdev"] || flags["lvol"] {
		t.Errorf("flags after set BDEV_RAID*: %s", raw)
	}
	if !strings.HasPrefix(string(raw), `{"accel":false,"aio":false,`) {
		t.Errorf("log_get_flags not in SPDK's sorted order: %.60s", raw)
	}
	var ok bool
	fx.must("bdev_wait_for_examine", nil, &ok)
	if !ok {
		t.Error("bdev_wait_for_examine = false")
	}

	var stat struct {
		TickRate uint64 `json:"tick_rate"`
		Bdevs    []map[string]any
	}
	fx.must("bdev_get_iostat", nil, &stat)
	if stat.TickRate == 0 || len(stat.Bdevs) != 1 || stat.Bdevs[0]["name"] != "disk0" || stat.Bdevs[0]["num_read_ops"] != float64(0) {
		t.Errorf("bdev_get_iostat = %+v", stat)
	}

	fx.must("bdev_set_qos_limit", map[string]any{"name": "disk0", "rw_ios_per_sec": 1500, "w_mbytes_per_sec": 10}, nil)
	b := fx.bdevRaw("disk0")
	want := map[string]any{"rw_ios_per_sec": float64(2000), "rw_mbytes_per_sec": float64(0), "r_mbytes_per_sec": float64(0), "w_mbytes_per_sec": float64(10)}
	got := b["assigned_rate_limits"].(map[string]any)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("assigned_rate_limits.%s = %v, want %v", k, got[k], v)
		}
	}
	fx.must("bdev_set_qos_limit", map[string]any{"name": "disk0", "rw_ios_per_sec": 0}, nil)
	if got := fx.bdevRaw("disk0")["assigned_rate_limits"].(map[string]any); got["rw_ios_per_sec"] != float64(0) || got["w_mbytes_per_sec"] != float64(10) {
		t.Errorf("after clearing rw_ios_per_sec: %v", got)
	}
}

func (fx *fixture) bdevRaw(name string) map[string]any {
	fx.t.Helper()
	var out []map[string]any
	fx.must("bdev_get_bdevs", map[string]any{"name": name}, &out)
	return out[0]
}

// TestBdevObjectFields: every bdev has creation_time ("" for non-lvols)
// and no md_size/md_interleave/dif_type while md_size is 0
// (lib/bdev/bdev_rpc.c rpc_dump_bdev_info).
func TestBdevObjectFields(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("v", 4)
	for _, name := range []string{"disk0", "lvs0/v"} {
		b := fx.bdevRaw(name)
		ct, ok := b["creation_time"].(string)
		if !ok || (name == "disk0") != (ct == "") {
			t.Errorf("%s: creation_time = %#v", name, b["creation_time"])
		}
		for _, k := range []string{"md_size", "md_interleave", "dif_type"} {
			if _, has := b[k]; has {
				t.Errorf("%s has %s with md_size 0", name, k)
			}
		}
	}
}

// TestSupportedIOTypes: every SPDK I/O type is listed, with the values of
// the bdev's SPDK module (module/bdev/aio/bdev_aio.c,
// module/bdev/malloc/bdev_malloc.c, module/bdev/lvol/vbdev_lvol.c; the bdev
// layer emulates write_zeroes where write works, lib/bdev/bdev.c).
func TestSupportedIOTypes(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("v", 4)
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/v", "snapshot_name": "s"}, nil)
	fx.must("bdev_malloc_create", map[string]any{"name": "m0", "num_blocks": 2048, "block_size": 512}, nil)
	for _, m := range []string{"m1", "m2", "m3"} {
		fx.must("bdev_malloc_create", map[string]any{"name": m, "num_blocks": 8192, "block_size": 512}, nil)
	}
	aio := filepath.Join(t.TempDir(), "a1.img")
	if err := os.WriteFile(aio, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	fx.must("bdev_aio_create", map[string]any{"name": "a1", "filename": aio, "block_size": 512}, nil)
	// raid1 passes flush, reset and unmap on when every member takes
	// them (module/bdev/raid/bdev_raid.c raid_bdev_io_type_supported); an
	// error bdev answers as its base (lib/bdev/part.c).
	fx.must("bdev_raid_create", map[string]any{"name": "r1", "raid_level": "raid1", "base_bdevs": []string{"m1", "m2"}}, nil)
	fx.must("bdev_raid_create", map[string]any{"name": "r2", "raid_level": "raid1", "base_bdevs": []string{"m3", "a1"}}, nil)
	fx.must("bdev_malloc_create", map[string]any{"name": "m4", "num_blocks": 2048, "block_size": 512}, nil)
	fx.must("bdev_error_create", map[string]any{"base_name": "m4"}, nil)
	want := map[string][]string{
		"disk0":  {"read", "write", "flush", "reset", "write_zeroes"},
		"m0":     {"read", "write", "flush", "reset", "unmap", "write_zeroes", "zcopy", "abort", "copy"},
		"lvs0/v": {"read", "write", "unmap", "write_zeroes", "flush", "reset", "seek_data", "seek_hole"},
		"lvs0/s": {"read", "flush", "reset", "seek_data", "seek_hole"},
		"r1":     {"read", "write", "write_zeroes", "flush", "reset", "unmap"},
		"r2":     {"read", "write", "write_zeroes", "flush", "reset"},
		"EE_m4":  {"read", "write", "flush", "reset", "unmap", "write_zeroes", "zcopy", "abort", "copy"},
	}
	for name, on := range want {
		got := fx.bdevRaw(name)["supported_io_types"].(map[string]any)
		if len(got) != 20 {
			t.Errorf("%s lists %d I/O types, want 20", name, len(got))
		}
		for k, v := range got {
			if v != slices.Contains(on, k) {
				t.Errorf("%s: supported_io_types.%s = %v", name, k, v)
			}
		}
	}
}
