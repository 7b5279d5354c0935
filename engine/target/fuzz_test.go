package target

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// FuzzMethodParams sends arbitrary params to every method that touches
// only in-memory or lvol state: each call must return (a result or a
// JSON-RPC error), never panic or hang.
func FuzzMethodParams(f *testing.F) {
	tgt := New(Options{})
	defer tgt.Close()
	ctx := context.Background()
	if err := tgt.Call(ctx, "bdev_malloc_create", map[string]any{"name": "m", "num_blocks": 131072, "block_size": 512}, nil); err != nil {
		f.Fatal(err)
	}
	if err := tgt.Call(ctx, "bdev_lvol_create_lvstore", map[string]any{"bdev_name": "m", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, nil); err != nil {
		f.Fatal(err)
	}
	if err := tgt.Call(ctx, "bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "a", "size_in_mib": 2, "thin_provision": true}, nil); err != nil {
		f.Fatal(err)
	}
	// Methods that open files or dial the network are left out.
	var methods []string
	for _, m := range tgt.Methods() {
		if !slices.Contains([]string{"bdev_aio_create", "bdev_remote_attach"}, m) {
			methods = append(methods, m)
		}
	}
	seeds := []string{
		`{"name":"lvs0/a"}`, `{"lvol_name":"lvs0/a","snapshot_name":"s"}`, `{"snapshot_name":"lvs0/s","clone_name":"c"}`,
		`{"lvs_name":"lvs0","lvol_name":"b","size_in_mib":1}`, `{"name":"r","raid_level":"raid1","base_bdevs":["lvs0/a"]}`,
		`{"category":"all"}`, `{"name":"lvs0/a","offset":0,"size":1048576}`, `{"operation_id":1}`,
		`{"base_name":"m"}`, `{"name":"EE_m","io_type":"all","error_type":"failure","num":1}`, `{"name":"EE_m","io_type":"clear","error_type":"pending"}`,
		`null`, `[]`, `{}`, `{"name":null}`, `{"size_in_mib":-1}`, `{"xattrs":{"a":1}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, params []byte) {
		h := tgt.methods[methods[int(which)%len(methods)]]
		done := make(chan struct{})
		go func() {
			defer close(done)
			h(ctx, json.RawMessage(params))
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("method %s hung on %q", methods[int(which)%len(methods)], params)
		}
	})
}
