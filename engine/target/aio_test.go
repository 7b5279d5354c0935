package target

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAioBlockSize checks bdev_aio_create's block size handling against
// SPDK (module/bdev/aio/bdev_aio.c create_aio_bdev: a regular file has no
// detectable block size, so omitting block_size is -EINVAL; a given one
// sets block_size_override; bdev_aio_dump_info_json for the
// driver_specific keys; module/bdev/aio/bdev_aio_rpc.c for the accepted
// params and the decode error).
func TestAioBlockSize(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "d.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		params   map[string]any
		code     int
		msg      string
		override bool
		bs       float64
		falloc   bool
	}{
		{"no block_size on a file", map[string]any{}, -22, "Invalid argument", false, 0, false},
		{"no block_size on a char device", map[string]any{"filename": "/dev/null"}, -22, "Invalid argument", false, 0, false},
		{"block_size 4096", map[string]any{"block_size": 4096}, 0, "", true, 4096, false},
		{"block_size 512 is an override too", map[string]any{"block_size": 512}, 0, "", true, 512, false},
		{"block_size 256", map[string]any{"block_size": 256}, -22, "Invalid argument", false, 0, false},
		{"fallocate reported", map[string]any{"block_size": 512, "fallocate": true}, 0, "", true, 512, true},
		{"nowait is not a param", map[string]any{"block_size": 512, "nowait": true}, -32603, "spdk_json_decode_object failed", false, 0, false},
	}
	tgt := New(Options{AllowedDirs: []string{dir, "/dev"}})
	defer tgt.Close()
	fx := &fixture{t: t, tgt: tgt}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "aio" + string(rune('a'+i))
			p := map[string]any{"name": name, "filename": img}
			for k, v := range tt.params {
				p[k] = v
			}
			err := fx.call("bdev_aio_create", p, nil)
			if tt.code != 0 {
				code, msg, _ := rpcCode(err)
				if code != tt.code || msg != tt.msg {
					t.Fatalf("err = %v, want %d %q", err, tt.code, tt.msg)
				}
				if _, ok := tgt.Bdev(name); ok {
					t.Fatal("bdev created anyway")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var bdevs []map[string]any
			fx.must("bdev_get_bdevs", map[string]any{"name": name}, &bdevs)
			aio := bdevs[0]["driver_specific"].(map[string]any)["aio"].(map[string]any)
			want := map[string]any{"filename": img, "block_size_override": tt.override, "readonly": false, "fallocate": tt.falloc}
			if len(aio) != len(want) {
				t.Errorf("driver_specific.aio = %v, want %v", aio, want)
			}
			for k, v := range want {
				if aio[k] != v {
					t.Errorf("driver_specific.aio.%s = %v, want %v", k, aio[k], v)
				}
			}
			if bdevs[0]["block_size"] != tt.bs {
				t.Errorf("block_size = %v, want %v", bdevs[0]["block_size"], tt.bs)
			}
			fx.must("bdev_aio_delete", map[string]any{"name": name}, nil)
		})
	}
	// refengine's own disks keep the 512-byte default, no override.
	if err := tgt.CreateAio("own", img, 0); err != nil {
		t.Fatal(err)
	}
	var bdevs []map[string]any
	fx.must("bdev_get_bdevs", map[string]any{"name": "own"}, &bdevs)
	if bdevs[0]["block_size"] != float64(512) || bdevs[0]["driver_specific"].(map[string]any)["aio"].(map[string]any)["block_size_override"] != false {
		t.Errorf("CreateAio(own, 0) = %v", bdevs[0])
	}
}
