package target

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
)

type bdevInfo struct {
	Name           string   `json:"name"`
	Aliases        []string `json:"aliases"`
	ProductName    string   `json:"product_name"`
	BlockSize      int      `json:"block_size"`
	NumBlocks      uint64   `json:"num_blocks"`
	UUID           string   `json:"uuid"`
	Claimed        bool     `json:"claimed"`
	ClaimType      string   `json:"claim_type"`
	DriverSpecific struct {
		Lvol *struct {
			LvolStoreUUID        string   `json:"lvol_store_uuid"`
			BaseBdev             string   `json:"base_bdev"`
			ThinProvision        bool     `json:"thin_provision"`
			Snapshot             bool     `json:"snapshot"`
			Clone                bool     `json:"clone"`
			EsnapClone           bool     `json:"esnap_clone"`
			NumAllocatedClusters uint64   `json:"num_allocated_clusters"`
			BaseSnapshot         string   `json:"base_snapshot"`
			Clones               []string `json:"clones"`
			ExternalSnapshotName string   `json:"external_snapshot_name"`
		} `json:"lvol"`
	} `json:"driver_specific"`
}

func (fx *fixture) bdev(name string) bdevInfo {
	fx.t.Helper()
	var out []bdevInfo
	fx.must("bdev_get_bdevs", map[string]any{"name": name}, &out)
	if len(out) != 1 {
		fx.t.Fatalf("bdev_get_bdevs %s returned %d bdevs", name, len(out))
	}
	return out[0]
}

func TestLvolChainInBdevs(t *testing.T) {
	fx := newFixture(t, true)
	id := fx.lvol("vol", 4)
	data := pattern(1, 1<<20)
	fx.write("lvs0/vol", 0, data)
	var snapID string
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": id, "snapshot_name": "snap1", "xattrs": map[string]string{"k": "v"}}, &snapID)
	fx.must("bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/snap1", "clone_name": "clone1"}, nil)

	vol := fx.bdev("lvs0/vol")
	if vol.Name != id || vol.UUID != id || !slices.Equal(vol.Aliases, []string{"lvs0/vol"}) || vol.ProductName != "Logical Volume" {
		t.Errorf("vol bdev = %+v", vol)
	}
	if l := vol.DriverSpecific.Lvol; l == nil || !l.Clone || l.BaseSnapshot != "snap1" || l.BaseBdev != "disk0" || !l.ThinProvision {
		t.Errorf("vol driver_specific.lvol = %+v", l)
	}
	snap := fx.bdev(snapID)
	l := snap.DriverSpecific.Lvol
	if l == nil || !l.Snapshot || l.NumAllocatedClusters != 1 {
		t.Fatalf("snapshot driver_specific.lvol = %+v", l)
	}
	slices.Sort(l.Clones)
	if !slices.Equal(l.Clones, []string{"clone1", "vol"}) {
		t.Errorf("snapshot clones = %v, want [clone1 vol]", l.Clones)
	}
	if got := fx.read("lvs0/clone1", 0, len(data)); !bytes.Equal(got, data) {
		t.Error("clone does not read the snapshot's data")
	}
	var x string
	fx.must("bdev_lvol_get_xattr", map[string]any{"name": "lvs0/snap1", "xattr_name": "k"}, &x)
	if x != "v" {
		t.Errorf("snapshot xattr k = %q, want v", x)
	}
	fx.must("bdev_lvol_set_xattr", map[string]any{"name": "lvs0/vol", "xattr_name": "rev", "xattr_value": "7"}, nil)
	fx.must("bdev_lvol_get_xattr", map[string]any{"name": "lvs0/vol", "xattr_name": "rev"}, &x)
	if x != "7" {
		t.Errorf("xattr rev = %q, want 7", x)
	}

	var lvols []struct {
		Alias      string `json:"alias"`
		Name       string `json:"name"`
		IsSnapshot bool   `json:"is_snapshot"`
		IsClone    bool   `json:"is_clone"`
		Lvs        struct{ Name string }
	}
	fx.must("bdev_lvol_get_lvols", map[string]any{"lvs_name": "lvs0"}, &lvols)
	if len(lvols) != 3 {
		t.Fatalf("get_lvols returned %d lvols, want 3", len(lvols))
	}
	for _, lv := range lvols {
		if lv.Lvs.Name != "lvs0" || lv.Alias != "lvs0/"+lv.Name || lv.IsSnapshot != (lv.Name == "snap1") {
			t.Errorf("lvol %+v", lv)
		}
	}

	// Deleting the clone leaves one child; deleting the snapshot then merges
	// it into vol, which keeps the data.
	fx.must("bdev_lvol_delete", map[string]any{"name": "lvs0/clone1"}, nil)
	fx.must("bdev_lvol_delete", map[string]any{"name": "lvs0/snap1"}, nil)
	if got := fx.read("lvs0/vol", 0, len(data)); !bytes.Equal(got, data) {
		t.Error("vol lost its data when its snapshot was merged into it")
	}
	if l := fx.bdev("lvs0/vol").DriverSpecific.Lvol; l.Clone || l.BaseSnapshot != "" {
		t.Errorf("vol after merge = %+v, want no parent", l)
	}
	fx.must("bdev_lvol_rename", map[string]any{"old_name": "lvs0/vol", "new_name": "vol2"}, nil)
	if b := fx.bdev("lvs0/vol2"); b.Name != id {
		t.Errorf("renamed lvol has bdev name %s, want unchanged %s", b.Name, id)
	}
	fx.must("bdev_lvol_resize", map[string]any{"name": "lvs0/vol2", "size_in_mib": 9}, nil)
	if b := fx.bdev("lvs0/vol2"); b.NumBlocks*uint64(b.BlockSize) != 9<<20 {
		t.Errorf("resized lvol holds %d bytes, want 9 MiB", b.NumBlocks*uint64(b.BlockSize))
	}
}

func TestFragmapAndShallowCopy(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("src", 4)
	one := pattern(9, 1<<20)
	fx.write("lvs0/src", 2<<20, one) // cluster 2 only
	fx.must("bdev_lvol_set_read_only", map[string]any{"name": "lvs0/src"}, nil)

	var fm struct {
		ClusterSize          uint64 `json:"cluster_size"`
		NumClusters          uint64 `json:"num_clusters"`
		NumAllocatedClusters uint64 `json:"num_allocated_clusters"`
		Fragmap              string `json:"fragmap"`
	}
	fx.must("bdev_lvol_get_fragmap", map[string]any{"name": "lvs0/src"}, &fm)
	bitmap, err := base64.StdEncoding.DecodeString(fm.Fragmap)
	if err != nil {
		t.Fatal(err)
	}
	if fm.ClusterSize != 1<<20 || fm.NumClusters != 4 || fm.NumAllocatedClusters != 1 || len(bitmap) != 1 || bitmap[0] != 1<<2 {
		t.Errorf("fragmap = %+v bitmap %08b, want 4 clusters with only cluster 2 allocated", fm, bitmap)
	}

	fx.must("bdev_malloc_create", map[string]any{"name": "dst", "num_blocks": 8192, "block_size": 512}, nil)
	marker := bytes.Repeat([]byte{0xAA}, 4096)
	fx.write("dst", 0, marker) // must stay: cluster 0 is not allocated in src
	var start struct {
		OperationID uint32 `json:"operation_id"`
	}
	fx.must("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs0/src", "dst_bdev_name": "dst"}, &start)
	if start.OperationID == 0 {
		t.Fatal("operation_id 0")
	}
	var st struct {
		CopiedClusters uint64 `json:"copied_clusters"`
		TotalClusters  uint64 `json:"total_clusters"`
		State          string `json:"state"`
		Error          string `json:"error"`
	}
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		fx.must("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": start.OperationID}, &st)
		if st.State != "in progress" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("shallow copy did not finish")
		}
		<-tick.C
	}
	if st.State != "complete" || st.CopiedClusters != 1 || st.TotalClusters != 1 {
		t.Fatalf("shallow copy ended %+v, want complete 1/1", st)
	}
	if got := fx.read("dst", 2<<20, len(one)); !bytes.Equal(got, one) {
		t.Error("cluster 2 not copied")
	}
	if got := fx.read("dst", 0, len(marker)); !bytes.Equal(got, marker) {
		t.Error("shallow copy wrote a cluster the source does not own")
	}
	err = fx.call("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": start.OperationID}, nil)
	if code, _, _ := rpcCode(err); code != -19 {
		t.Errorf("second check after completion = %v, want -19", err)
	}
	// The destination was claimed only while the copy ran.
	fx.must("bdev_malloc_delete", map[string]any{"name": "dst"}, nil)
}

func TestRaidMembership(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("a", 4)
	fx.lvol("b", 4)
	fx.lvol("c", 4)
	fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"lvs0/a", "lvs0/b"}, "superblock": false}, nil)
	if b := fx.bdev("lvs0/a"); !b.Claimed || b.ClaimType != "exclusive_write" {
		t.Errorf("raid member claim = %v %q", b.Claimed, b.ClaimType)
	}
	data := pattern(3, 64<<10)
	fx.write("r", 1<<20, data)
	for _, m := range []string{"lvs0/a", "lvs0/b"} {
		if !bytes.Equal(fx.read(m, 1<<20, len(data)), data) {
			t.Errorf("member %s lacks the raid write", m)
		}
	}
	type raidInfo struct {
		Name                    string `json:"name"`
		State                   string `json:"state"`
		RaidLevel               string `json:"raid_level"`
		NumBaseBdevs            int    `json:"num_base_bdevs"`
		NumBaseBdevsOperational int    `json:"num_base_bdevs_operational"`
		BaseBdevsList           []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"base_bdevs_list"`
	}
	raids := func() raidInfo {
		var out []raidInfo
		fx.must("bdev_raid_get_bdevs", map[string]any{"category": "online"}, &out)
		if len(out) != 1 {
			t.Fatalf("online raids: %d, want 1", len(out))
		}
		return out[0]
	}
	if r := raids(); r.State != "online" || r.RaidLevel != "raid1" || r.NumBaseBdevs != 2 {
		t.Errorf("raid = %+v", r)
	}
	fx.must("bdev_raid_remove_base_bdev", map[string]any{"name": "lvs0/b"}, nil)
	if b := fx.bdev("lvs0/b"); b.Claimed {
		t.Error("removed member still claimed")
	}
	fx.must("bdev_raid_add_base_bdev", map[string]any{"raid_bdev": "r", "base_bdev": "lvs0/c", "write_only": true}, nil)
	states := func() []struct{ Name, State string } {
		var out []struct{ Name, State string }
		fx.must("bdev_raid_get_member_states", map[string]any{"name": "r"}, &out)
		return out
	}
	r := raids()
	if len(r.BaseBdevsList) != 2 || r.BaseBdevsList[1].Name != "lvs0/c" || r.BaseBdevsList[1].State != "" {
		t.Fatalf("after add: %+v, want c in the emptied slot, no per-member state", r)
	}
	if st := states(); len(st) != 2 || st[1].Name != "lvs0/c" || st[1].State != "WO" {
		t.Fatalf("member states after add: %+v, want c joined WO", st)
	}
	data2 := pattern(5, 64<<10)
	fx.write("r", 2<<20, data2)
	if !bytes.Equal(fx.read("lvs0/c", 2<<20, len(data2)), data2) {
		t.Error("WO member misses a new write")
	}
	fx.must("bdev_raid_set_base_bdev_state", map[string]any{"raid_name": "r", "base_bdev": "lvs0/c", "state": "RW"}, nil)
	if st := states(); st[1].State != "RW" {
		t.Errorf("member state after set RW: %s", st[1].State)
	}
	fx.must("nbd_export_start", map[string]any{"bdev_name": "r", "export_name": "vol"}, nil)
	fx.must("bdev_raid_delete", map[string]any{"name": "r"}, nil)
	var exports []any
	fx.must("nbd_get_exports", nil, &exports)
	if len(exports) != 0 {
		t.Errorf("raid delete left exports %v", exports)
	}
	fx.must("bdev_lvol_delete", map[string]any{"name": "lvs0/a"}, nil) // released
}

// TestExamineAfterRestart closes a target and opens the same disk in a new
// one: the lvstore and its lvols come back with their data.
// TestLvstoreBaseClaim: the lvol module claims an lvstore's base
// read_many_write_one (module/blob/bdev/blob_bdev.c spdk_bs_bdev_claim;
// lib/bdev/bdev.c names the type).
func TestLvstoreBaseClaim(t *testing.T) {
	fx := newFixture(t, true)
	if d := fx.bdev("disk0"); !d.Claimed || d.ClaimType != "read_many_write_one" {
		t.Errorf("lvstore base: claimed %v, claim_type %q, want read_many_write_one", d.Claimed, d.ClaimType)
	}
}

func TestExamineAfterRestart(t *testing.T) {
	fx := newFixture(t, true)
	id := fx.lvol("keep", 4)
	data := pattern(7, 1<<20)
	fx.write("lvs0/keep", 1<<20, data)
	fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/keep", "snapshot_name": "s"}, nil)
	if err := fx.tgt.Close(); err != nil {
		t.Fatal(err)
	}
	t2 := New(Options{})
	defer t2.Close()
	fx2 := &fixture{t: t, tgt: t2, disk: fx.disk}
	fx2.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": fx.disk, "block_size": 512}, nil)
	b := fx2.bdev("lvs0/keep")
	if b.Name != id || b.DriverSpecific.Lvol.BaseSnapshot != "s" {
		t.Errorf("lvol after examine = %+v", b)
	}
	if got := fx2.read("lvs0/keep", 1<<20, len(data)); !bytes.Equal(got, data) {
		t.Error("data lost across restart")
	}
}

// TestRemoteBdev attaches one target's NBD export as a bdev of another.
func TestRemoteBdev(t *testing.T) {
	srv := newFixture(t, true)
	srv.lvol("replica", 4)
	data := pattern(11, 1<<20)
	srv.write("lvs0/replica", 0, data)
	srv.must("nbd_export_start", map[string]any{"bdev_name": "lvs0/replica", "export_name": "replica"}, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.tgt.NBD().Serve(ctx, l) }()
	defer func() { cancel(); <-done }()

	cl := newFixture(t, false)
	cl.must("bdev_remote_attach", map[string]any{"name": "rem", "address": l.Addr().String(), "export_name": "replica"}, nil)
	if b := cl.bdev("rem"); b.ProductName != "Remote NBD disk" || b.NumBlocks*uint64(b.BlockSize) != 4<<20 {
		t.Errorf("remote bdev = %+v", b)
	}
	if got := cl.read("rem", 0, len(data)); !bytes.Equal(got, data) {
		t.Error("remote bdev reads different data")
	}
	cl.must("bdev_remote_detach", map[string]any{"name": "rem"}, nil)
	err = cl.call("bdev_remote_attach", map[string]any{"name": "x", "address": l.Addr().String(), "export_name": "nope"}, nil)
	if _, _, ok := rpcCode(err); !ok {
		t.Errorf("attach of a missing export = %v, want a JSON-RPC error", err)
	}
}

// TestOverSocket drives the target through a real JSON-RPC server.
func TestOverSocket(t *testing.T) {
	fx := newFixture(t, true)
	srv := jsonrpc.NewServer(nil)
	fx.tgt.Register(srv)
	path := filepath.Join(t.TempDir(), "rpc.sock")
	l, err := jsonrpc.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	c, err := jsonrpc.Dial(ctx, "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var methods []string
	if err := c.Call(ctx, "rpc_get_methods", nil, &methods); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"bdev_get_bdevs", "bdev_lvol_create", "bdev_raid_create", "nbd_export_start", "bdev_remote_attach", "rpc_get_methods", "spdk_get_version"} {
		if !slices.Contains(methods, m) {
			t.Errorf("rpc_get_methods lacks %s", m)
		}
	}
	var id string
	if err := c.Call(ctx, "bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": "v", "size_in_mib": 1}, &id); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := c.Call(ctx, "bdev_malloc_create", map[string]any{"num_blocks": 16, "block_size": 512}, &name); err != nil || name != "Malloc0" {
		t.Errorf("malloc with generated name = %q, %v; want Malloc0", name, err)
	}
}

// TestGetBdevsWaitsForTimeout: a bdev that appears within the timeout is
// returned instead of -19.
func TestGetBdevsWaitsForTimeout(t *testing.T) {
	fx := newFixture(t, false)
	result := make(chan error, 1)
	go func() {
		var out []bdevInfo
		result <- fx.call("bdev_get_bdevs", map[string]any{"name": "late", "timeout": 20000}, &out)
	}()
	fx.must("bdev_malloc_create", map[string]any{"name": "late", "num_blocks": 16, "block_size": 512}, nil)
	if err := <-result; err != nil {
		t.Fatalf("bdev_get_bdevs with timeout: %v", err)
	}
}

// TestDegradedEsnapClone: an esnap clone whose external bdev is missing
// when the lvstore loads is listed as degraded with no bdev, and comes back
// when a bdev with that UUID appears.
func TestDegradedEsnapClone(t *testing.T) {
	fx := newFixture(t, true)
	const extUUID = "0b6b1a3e-7f43-4c52-9d1e-5a8f2e1c0d11"
	fx.must("bdev_malloc_create", map[string]any{"name": "ext", "num_blocks": 8192, "block_size": 512, "uuid": extUUID}, nil)
	var cloneID string
	fx.must("bdev_lvol_clone_bdev", map[string]any{"bdev": "ext", "lvs_name": "lvs0", "clone_name": "esc"}, &cloneID)
	if l := fx.bdev("lvs0/esc").DriverSpecific.Lvol; !l.EsnapClone || l.ExternalSnapshotName != extUUID {
		t.Fatalf("esnap clone = %+v", l)
	}
	if b := fx.bdev("ext"); !b.Claimed || b.ClaimType != "read_many_write_none" {
		t.Errorf("external snapshot claim = %v %q, want read_many_write_none", b.Claimed, b.ClaimType)
	}
	if code, _, _ := rpcCode(fx.call("bdev_malloc_delete", map[string]any{"name": "ext"}, nil)); code != -16 {
		t.Errorf("deleting the external snapshot of an esnap clone: code %d, want -16", code)
	}
	fx.tgt.Close()

	fx2 := &fixture{t: t, tgt: New(Options{}), disk: fx.disk}
	defer fx2.tgt.Close()
	fx2.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": fx.disk, "block_size": 512}, nil)
	var lvols []struct {
		Name       string `json:"name"`
		IsDegraded bool   `json:"is_degraded"`
	}
	fx2.must("bdev_lvol_get_lvols", nil, &lvols)
	if len(lvols) != 1 || !lvols[0].IsDegraded {
		t.Fatalf("lvols after restart without the external bdev: %+v, want esc degraded", lvols)
	}
	if code, _, _ := rpcCode(fx2.call("bdev_get_bdevs", map[string]any{"name": "lvs0/esc"}, nil)); code != -19 {
		t.Errorf("degraded lvol has a bdev (code %d)", code)
	}
	fx2.must("bdev_malloc_create", map[string]any{"name": "ext", "num_blocks": 8192, "block_size": 512, "uuid": extUUID}, nil)
	if b := fx2.bdev("lvs0/esc"); b.Name != cloneID {
		t.Errorf("esnap clone after its external bdev came back: %+v", b)
	}
}

// TestDeleteSuspendedRaid: deleting a suspended raid with an export does
// not hang (an engine crash during a live upgrade).
func TestDeleteSuspendedRaid(t *testing.T) {
	fx := newFixture(t, true)
	fx.lvol("a", 4)
	fx.must("bdev_raid_create", map[string]any{"name": "r", "raid_level": "raid1", "base_bdevs": []string{"lvs0/a"}}, nil)
	fx.must("nbd_export_start", map[string]any{"bdev_name": "r"}, nil)
	dev, _ := fx.tgt.Bdev("r")
	r := dev.(interface{ Suspend(context.Context) error })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- fx.tgt.NBD().Serve(ctx, l) }()
	defer func() { cancel(); <-served }()
	client := dialExport(t, l.Addr().String(), "r")
	defer client.Close()
	if err := r.Suspend(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A write from the frontend is held by the suspension.
	go client.WriteAt(make([]byte, 4096), 0)
	done := make(chan error, 1)
	go func() { done <- fx.call("bdev_raid_delete", map[string]any{"name": "r"}, nil) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bdev_raid_delete of a suspended raid hung")
	}
}

// TestShallowCopyRefusedLater: SPDK starts a shallow copy the blobstore
// refuses (a writable source; a destination smaller than the source) and
// reports the refusal as the operation's outcome
// (module/bdev/lvol/vbdev_lvol_rpc.c answers the start with the operation
// id; lib/blob/blobstore.c bs_shallow_copy_blob_open_cpl then fails it);
// the destination is not claimed afterwards. A failed start uses up an id.
func TestShallowCopyRefusedLater(t *testing.T) {
	tests := []struct {
		name, src string
		dstBlocks int
		wantError string
	}{
		{"writable source", "lvs0/src", 8192, "Operation not permitted"},
		{"destination too small", "lvs0/snap", 2048, "Invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, true)
			fx.lvol("src", 4)
			fx.must("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/src", "snapshot_name": "snap"}, nil)
			fx.must("bdev_malloc_create", map[string]any{"name": "dst", "num_blocks": tt.dstBlocks, "block_size": 512}, nil)
			if err := fx.call("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs0/snap", "dst_bdev_name": "nope"}, nil); err == nil {
				t.Fatal("a shallow copy to a missing bdev started")
			}
			var start struct {
				OperationID uint32 `json:"operation_id"`
			}
			fx.must("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": tt.src, "dst_bdev_name": "dst"}, &start)
			if start.OperationID != 2 {
				t.Errorf("operation id %d after one failed start, want 2", start.OperationID)
			}
			var st struct {
				State string `json:"state"`
				Error string `json:"error"`
			}
			fx.must("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": start.OperationID}, &st)
			if st.State != "error" || st.Error != tt.wantError {
				t.Fatalf("check: %+v, want state error, %s", st, tt.wantError)
			}
			if d := fx.bdev("dst"); d.Claimed {
				t.Errorf("the destination stays claimed (%q) after a refused copy", d.ClaimType)
			}
		})
	}
}
