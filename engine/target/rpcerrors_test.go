package target

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRPCErrorsCounted answers a create and a clone of names that exist,
// and a call with bad params, and finds each in refengine_get_rpc_errors
// with the code and message the caller got; successful calls count nothing.
func TestRPCErrorsCounted(t *testing.T) {
	fx := newFixture(t, true)
	var before []RPCError
	fx.must(methodRPCErrors, nil, &before)
	if len(before) != 0 {
		t.Fatalf("fresh target reports errors: %+v", before)
	}
	fx.lvol("head", 4)
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/head", "snapshot_name": "snap"}, nil)
	tests := []struct {
		method string
		params any
	}{
		{"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "head", "size_in_mib": 4, "thin_provision": true}},
		{"bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "head", "size_in_mib": 4, "thin_provision": true}},
		{"bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/snap", "clone_name": "head"}},
		{"bdev_get_bdevs", map[string]any{"name": "lvs0/none"}},
	}
	for _, tc := range tests {
		if err := fx.call(tc.method, tc.params, nil); err == nil {
			t.Fatalf("%s %v succeeded", tc.method, tc.params)
		}
	}
	var got []RPCError
	fx.must(methodRPCErrors, nil, &got)
	want := []RPCError{
		{Method: "bdev_get_bdevs", Code: -19, Message: "No such device", Count: 1},
		{Method: "bdev_lvol_clone", Code: -32602, Message: "File exists", Count: 1},
		{Method: "bdev_lvol_create", Code: -17, Message: "File exists", Count: 2},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("error counts (-want +got):\n%s", d)
	}
	if err := fx.call(methodRPCErrors, map[string]any{"x": 1}, nil); err == nil {
		t.Error("params accepted")
	}
}
