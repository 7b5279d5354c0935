package target

import (
	"errors"
	"syscall"
	"testing"
)

type errorDiskInfo struct {
	bdevInfo
	DriverSpecific struct {
		ErrorDisk *struct {
			BaseBdev string            `json:"base_bdev"`
			Fired    map[string]uint64 `json:"fired"`
			Armed    map[string]uint32 `json:"armed"`
		} `json:"error_disk"`
	} `json:"driver_specific"`
}

func (fx *fixture) errorDisk(name string) errorDiskInfo {
	fx.t.Helper()
	var out []errorDiskInfo
	fx.must("bdev_get_bdevs", map[string]any{"name": name}, &out)
	if len(out) != 1 || out[0].DriverSpecific.ErrorDisk == nil {
		fx.t.Fatalf("bdev_get_bdevs %s: %+v, want one error disk", name, out)
	}
	return out[0]
}

// writes writes n blocks of 4 KiB to a bdev and returns how many failed
// with EIO; other errors fail the test.
func (fx *fixture) writes(name string, n int) int {
	fx.t.Helper()
	dev, ok := fx.tgt.Bdev(name)
	if !ok {
		fx.t.Fatalf("bdev %s not found", name)
	}
	failed := 0
	for i := range n {
		_, err := dev.WriteAt(pattern(byte(i), 4096), int64(i)*4096)
		switch {
		case errors.Is(err, syscall.EIO):
			failed++
		case err != nil:
			fx.t.Fatalf("write %d to %s: %v", i, name, err)
		}
	}
	return failed
}

// TestErrorBdevUnderLvstore layers EE_disk0 under an lvstore, as a node
// with --disk-error-injection does, and fails writes of an lvol in it.
func TestErrorBdevUnderLvstore(t *testing.T) {
	fx := newFixture(t, false)
	var ok bool
	fx.must("bdev_error_create", map[string]any{"base_name": "disk0"}, &ok)
	if !ok {
		t.Fatal("bdev_error_create did not answer true")
	}
	ee := fx.errorDisk("EE_disk0")
	if ee.ProductName != "Error Injection Disk" || ee.Claimed || ee.NumBlocks != fx.bdev("disk0").NumBlocks || ee.DriverSpecific.ErrorDisk.BaseBdev != "disk0" {
		t.Errorf("EE_disk0 = %+v", ee)
	}
	if d := fx.bdev("disk0"); !d.Claimed || d.ClaimType != "exclusive_write" {
		t.Errorf("disk0 not claimed by its error bdev: %+v", d)
	}
	fx.must("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "EE_disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, nil)
	fx.lvol("vol", 4)
	data := pattern(9, 1<<20)
	fx.write("lvs0/vol", 0, data)

	fx.must("bdev_error_inject_error", map[string]any{"name": "EE_disk0", "io_type": "write", "error_type": "failure", "num": 3}, nil)
	if got := fx.writes("lvs0/vol", 10); got != 3 {
		t.Errorf("%d of 10 lvol writes failed, want 3", got)
	}
	if s := fx.errorDisk("EE_disk0").DriverSpecific.ErrorDisk; s.Fired["write"] != 3 || s.Armed["write"] != 0 {
		t.Errorf("error disk counters %+v", s)
	}

	// num defaults to 1; a read rule leaves writes alone.
	fx.must("bdev_error_inject_error", map[string]any{"name": "EE_disk0", "io_type": "read", "error_type": "failure"}, nil)
	if got := fx.writes("lvs0/vol", 4); got != 0 {
		t.Errorf("%d writes failed under a read rule", got)
	}
	dev, _ := fx.tgt.Bdev("lvs0/vol")
	if _, err := dev.ReadAt(make([]byte, 4096), 1<<19); !errors.Is(err, syscall.EIO) {
		t.Errorf("read under a read rule: %v, want EIO", err)
	}
	fx.must("bdev_error_inject_error", map[string]any{"name": "EE_disk0", "io_type": "all", "error_type": "failure", "num": 1000}, nil)
	fx.must("bdev_error_inject_error", map[string]any{"name": "EE_disk0", "io_type": "clear", "error_type": "failure"}, nil)
	if got := fx.writes("lvs0/vol", 4); got != 0 {
		t.Errorf("%d writes failed after clear", got)
	}
	if got := fx.read("lvs0/vol", 1<<19, 4096); string(got) != string(data[1<<19:1<<19+4096]) {
		t.Error("data past the failed writes changed")
	}

	// Deleting the error bdev unloads the lvstore and releases the disk.
	fx.must("bdev_error_delete", map[string]any{"name": "EE_disk0"}, nil)
	if d := fx.bdev("disk0"); d.Claimed {
		t.Errorf("disk0 still claimed after bdev_error_delete: %+v", d)
	}
	var stores []struct{ Name string }
	fx.must("bdev_lvol_get_lvstores", nil, &stores)
	if len(stores) != 0 {
		t.Errorf("lvstores after deleting their base: %+v", stores)
	}
	// Made again over the disk, the error bdev finds the lvstore; deleting
	// the disk under it hot-removes both, as in SPDK.
	fx.must("bdev_error_create", map[string]any{"base_name": "disk0"}, nil)
	fx.must("bdev_lvol_get_lvstores", nil, &stores)
	if len(stores) != 1 {
		t.Errorf("lvstores on EE_disk0 made again: %+v", stores)
	}
	fx.must("bdev_aio_delete", map[string]any{"name": "disk0"}, nil)
	if _, ok := fx.tgt.Bdev("EE_disk0"); ok {
		t.Error("EE_disk0 outlived its base")
	}
	fx.must("bdev_lvol_get_lvstores", nil, &stores)
	if len(stores) != 0 {
		t.Errorf("lvstores after deleting the disk under them: %+v", stores)
	}

	// The configuration went with the error bdev, as SPDK's does. Made
	// again before its base appears (a node restarting with the option):
	// the aio bdev is claimed at once and the lvstore is found again on
	// EE_disk0, with the data.
	fx.must("bdev_error_create", map[string]any{"base_name": "disk0"}, nil)
	if _, ok := fx.tgt.Bdev("EE_disk0"); ok {
		t.Fatal("EE_disk0 exists before its base")
	}
	fx.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": fx.disk, "block_size": 512}, nil)
	var lvs []struct {
		Name     string `json:"name"`
		BaseBdev string `json:"base_bdev"`
	}
	fx.must("bdev_lvol_get_lvstores", nil, &lvs)
	if len(lvs) != 1 || lvs[0].Name != "lvs0" || lvs[0].BaseBdev != "EE_disk0" {
		t.Fatalf("lvstores after re-creating disk0: %+v, want lvs0 on EE_disk0", lvs)
	}
	if got := fx.read("lvs0/vol", 0, 4096); string(got) == string(data[:4096]) {
		t.Error("block 0 kept its first data although it was rewritten")
	}
	if got := fx.read("lvs0/vol", 1<<19, 4096); string(got) != string(data[1<<19:1<<19+4096]) {
		t.Error("data lost across the error bdev's re-creation")
	}
}

// TestErrorBdevCodes checks the error module's replies against SPDK
// v24.09's vbdev_error_rpc.c, each row on a fresh target with lvs0 on disk0.
func TestErrorBdevCodes(t *testing.T) {
	malloc := step{"bdev_malloc_create", map[string]any{"name": "m", "num_blocks": 8192, "block_size": 512}}
	create := step{"bdev_error_create", map[string]any{"base_name": "m"}}
	inject := func(p map[string]any) step {
		p["name"] = "EE_m"
		return step{"bdev_error_inject_error", p}
	}
	tests := []struct {
		name     string
		setup    []step
		call     step
		wantCode int
		wantMsg  string
	}{
		{"create twice", []step{malloc, create}, create, -17, "File exists"},
		{"create twice, base missing", []step{create}, create, -17, "File exists"},
		{"create on a claimed base", nil, step{"bdev_error_create", map[string]any{"base_name": "disk0"}}, -1, "Operation not permitted"},
		{"create without base_name", nil, step{"bdev_error_create", map[string]any{"uuid": "0b1d1c4e-5c9c-4f4d-8d8e-2f3a4b5c6d7e"}}, -32603, "spdk_json_decode_object failed"},
		{"create with a bad uuid", []step{malloc}, step{"bdev_error_create", map[string]any{"base_name": "m", "uuid": "x"}}, -32603, "spdk_json_decode_object failed"},
		{"delete unknown", nil, step{"bdev_error_delete", map[string]any{"name": "EE_nope"}}, -19, "No such device"},
		{"delete a non-error bdev", nil, step{"bdev_error_delete", map[string]any{"name": "disk0"}}, -19, "No such device"},
		{"inject unknown bdev", nil, step{"bdev_error_inject_error", map[string]any{"name": "nope", "io_type": "all", "error_type": "failure"}}, -19, "No such device"},
		{"inject into a non-error bdev", nil, step{"bdev_error_inject_error", map[string]any{"name": "disk0", "io_type": "all", "error_type": "failure"}}, -19, "No such device"},
		{"inject bad io_type", []step{malloc, create}, inject(map[string]any{"io_type": "write_zeroes", "error_type": "failure"}), -32603, "spdk_json_decode_object failed"},
		{"inject bad error_type", []step{malloc, create}, inject(map[string]any{"io_type": "read", "error_type": "eio"}), -32603, "spdk_json_decode_object failed"},
		{"inject without error_type", []step{malloc, create}, inject(map[string]any{"io_type": "clear"}), -32603, "spdk_json_decode_object failed"},
		{"inject corrupt_value over 255", []step{malloc, create}, inject(map[string]any{"io_type": "read", "error_type": "corrupt_data", "corrupt_value": 256}), -32603, "spdk_json_decode_object failed"},
		{"inject corrupt_value 0", []step{malloc, create}, inject(map[string]any{"io_type": "read", "error_type": "corrupt_data"}), -22, "Invalid argument"},
		{"inject pending (not implemented)", []step{malloc, create}, inject(map[string]any{"io_type": "read", "error_type": "pending"}), -95, "Operation not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, true)
			for _, s := range tt.setup {
				fx.must(s.method, s.params, nil)
			}
			code, msg, ok := rpcCode(fx.call(tt.call.method, tt.call.params, nil))
			if !ok || code != tt.wantCode || msg != tt.wantMsg {
				t.Errorf("%s: got %d %q (rpc error %t), want %d %q", tt.call.method, code, msg, ok, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestErrorBdevOnMalloc: a malloc bdev named in bdev_error_create before
// it exists gets its error bdev when created, and a corrupt_data read rule
// damages one read.
func TestErrorBdevOnMalloc(t *testing.T) {
	fx := newFixture(t, false)
	fx.must("bdev_error_create", map[string]any{"base_name": "m", "uuid": "0b1d1c4e-5c9c-4f4d-8d8e-2f3a4b5c6d7e"}, nil)
	fx.must("bdev_malloc_create", map[string]any{"name": "m", "num_blocks": 2048, "block_size": 512}, nil)
	if ee := fx.errorDisk("EE_m"); ee.UUID != "0b1d1c4e-5c9c-4f4d-8d8e-2f3a4b5c6d7e" {
		t.Errorf("EE_m uuid %s, want the one asked for", ee.UUID)
	}
	data := pattern(5, 4096)
	fx.write("EE_m", 0, data)
	fx.must("bdev_error_inject_error", map[string]any{"name": "EE_m", "io_type": "read", "error_type": "corrupt_data", "corrupt_offset": 7, "corrupt_value": 0x80}, nil)
	got := fx.read("EE_m", 0, 4096)
	if got[7] != data[7]^0x80 {
		t.Errorf("byte 7 = %#x, want %#x", got[7], data[7]^0x80)
	}
	if got := fx.read("EE_m", 0, 4096); string(got) != string(data) {
		t.Error("second read corrupted too")
	}
	if got := fx.read("m", 0, 4096); string(got) != string(data) {
		t.Error("base changed by a read rule")
	}
}
