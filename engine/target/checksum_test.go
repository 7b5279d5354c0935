package target

import (
	"testing"

	"github.com/faultline/faultline/internal/crcref"
)

// TestSnapshotChecksum checks bdev_lvol_register_snapshot_checksum and
// bdev_lvol_get_snapshot_checksum against Longhorn's fork
// (module/bdev/lvol/vbdev_lvol_rpc.c for codes and shapes,
// lib/blob/blobstore.c spdk_bs_snapshot_checksum for the value: CRC-64/ISO
// chained over the snapshot's own clusters in order, whole clusters;
// lib/lvol/lvol.c for dropping it on decouple/inflate).
func TestSnapshotChecksum(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("vol", 4)
	c0, c2 := pattern(3, 1<<20), pattern(9, 1<<20)
	fx.write("lvs0/vol", 0, c0)
	fx.write("lvs0/vol", 2<<20+4096, c2[:4096]) // cluster 2, partly written
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/vol", "snapshot_name": "s1"}, nil)
	fx.write("lvs0/vol", 1<<20, c2)
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/vol", "snapshot_name": "s2"}, nil)

	full2 := make([]byte, 1<<20)
	copy(full2[4096:], c2[:4096])
	want1 := crcref.CRC64ISORefl(crcref.CRC64ISORefl(0, c0), full2)
	want2 := crcref.CRC64ISORefl(0, c2)

	type errCase struct {
		name, method string
		params       any
		code         int
		msg          string
	}
	errs := []errCase{
		{"get before register", "bdev_lvol_get_snapshot_checksum", map[string]any{"name": "lvs0/s1"}, -19, "No such device"},
		{"get unknown bdev", "bdev_lvol_get_snapshot_checksum", map[string]any{"name": "nope"}, -19, "No such device"},
		{"get non-lvol bdev", "bdev_lvol_get_snapshot_checksum", map[string]any{"name": "disk0"}, -19, "No such device"},
		{"get no name", "bdev_lvol_get_snapshot_checksum", map[string]any{}, -32603, "spdk_json_decode_object failed"},
		{"register unknown bdev", "bdev_lvol_register_snapshot_checksum", map[string]any{"name": "nope"}, -19, "No such device"},
		{"register non-snapshot", "bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs0/vol"}, -32603, "Operation not permitted"},
		{"register bad param", "bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs0/s1", "x": 1}, -32603, "spdk_json_decode_object failed"},
	}
	for _, c := range errs {
		err := fx.call(c.method, c.params, nil)
		code, msg, ok := rpcCode(err)
		if !ok || code != c.code || msg != c.msg {
			t.Errorf("%s: err = %v, want %d %q", c.name, err, c.code, c.msg)
		}
	}

	for _, s := range []struct {
		name string
		want uint64
	}{{"lvs0/s1", want1}, {"lvs0/s2", want2}} {
		var ok bool
		fx.must("bdev_lvol_register_snapshot_checksum", map[string]any{"name": s.name}, &ok)
		if !ok {
			t.Errorf("register %s = false", s.name)
		}
		var got map[string]any
		fx.must("bdev_lvol_get_snapshot_checksum", map[string]any{"name": s.name}, &got)
		if len(got) != 1 || got["checksum"] != float64(s.want) {
			t.Errorf("checksum of %s = %v, want {checksum: %d}", s.name, got, s.want)
		}
	}

	// It persists with the snapshot.
	if err := fx.tgt.Close(); err != nil {
		t.Fatal(err)
	}
	fx = &fixture{t: t, tgt: New(Options{}), disk: fx.disk}
	t.Cleanup(func() { fx.tgt.Close() })
	fx.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": fx.disk, "block_size": 512}, nil)
	var got struct{ Checksum uint64 }
	fx.must("bdev_lvol_get_snapshot_checksum", map[string]any{"name": "lvs0/s1"}, &got)
	if got.Checksum != want1 {
		t.Errorf("checksum after restart = %d, want %d", got.Checksum, want1)
	}

	// Deleting s1 merges it into its only clone s2: s2's checksum goes.
	fx.must("bdev_lvol_delete", map[string]any{"name": "lvs0/s1"}, nil)
	err := fx.call("bdev_lvol_get_snapshot_checksum", map[string]any{"name": "lvs0/s2"}, nil)
	if code, _, _ := rpcCode(err); code != -19 {
		t.Errorf("checksum after merge: err = %v, want -19", err)
	}
	// Inflating changes the snapshot's data: the checksum goes.
	fx.must("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs0/s2"}, nil)
	fx.must("bdev_lvol_inflate", map[string]any{"name": "lvs0/s2"}, nil)
	err = fx.call("bdev_lvol_get_snapshot_checksum", map[string]any{"name": "lvs0/s2"}, nil)
	if code, _, _ := rpcCode(err); code != -19 {
		t.Errorf("checksum after inflate: err = %v, want -19", err)
	}
}
