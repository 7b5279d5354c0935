package instance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/instance"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/internal/versitygw"
)

// Backup and restore tests run node processes without a manager: the test
// plays the manager, creating replicas, snapshots, backups and restores
// with the node's own im_* methods, so nothing else touches the replicas.

const (
	bkSize  = 32 << 20 // volume size: 16 backup blocks
	bkBlock = 2 << 20  // backupstore.BlockSize
	srcRep  = "vol1-r-aaaaaaaa"
	dstRep  = "vol2-r-bbbbbbbb"
	dstRep2 = "vol3-r-cccccccc"
)

// bnode is a node process with one 256 MiB disk and lvstore "lvs0".
type bnode struct {
	t   *testing.T
	p   *proc
	dir string
	nbd string
}

// startBackupNodes starts n nodes without a manager and gives each disk an
// lvstore with 1 MiB clusters, as a managed node would.
func startBackupNodes(t *testing.T, n int) []*bnode {
	t.Helper()
	if refengineBin == "" {
		t.Skip("integration test: runs real processes (skipped with -short)")
	}
	root := t.TempDir()
	var nodes []*bnode
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.p.kill()
			if t.Failed() {
				t.Logf("%s log:\n%s", nd.p.name, tail(nd.p.logs(), 8000))
			}
		}
	})
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		dir := filepath.Join(root, name)
		nd := &bnode{t: t, dir: dir, p: &proc{t: t, name: name, args: []string{"node", "--name", name, "--data-dir", dir,
			"--rpc-socket", filepath.Join(dir, "rpc.sock"), "--nbd-listen", fmt.Sprintf("127.0.0.%d:0", i+2),
			"--disk", "disk0=disk0.img:256M"}}}
		nodes = append(nodes, nd)
		nd.nbd = nd.p.start(nodeReady)
		if err := nd.rpc("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, nil); err != nil {
			t.Fatalf("%s: create lvstore: %v", name, err)
		}
	}
	return nodes
}

func (nd *bnode) rpc(method string, params, result any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := jsonrpc.Dial(ctx, "unix", filepath.Join(nd.dir, "rpc.sock"))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(ctx, method, params, result)
}

func (nd *bnode) must(method string, params, result any) {
	nd.t.Helper()
	if err := nd.rpc(method, params, result); err != nil {
		nd.t.Fatalf("%s %s %+v: %v", nd.p.name, method, params, err)
	}
}

// restart kills the node with SIGKILL and starts it again.
func (nd *bnode) restart() {
	nd.t.Helper()
	np, err := nd.p.p.Restart()
	if err != nil {
		nd.t.Fatal(err)
	}
	nd.p.p = np
	nd.nbd = nd.p.ready()
}

func (nd *bnode) createReplica(name string) improto.ReplicaInfo {
	nd.t.Helper()
	var info improto.ReplicaInfo
	vol, _, _ := strings.Cut(name, "-r-")
	nd.must(improto.MethodReplicaCreate, improto.ReplicaCreateRequest{Name: name, Volume: vol, LvstoreName: "lvs0", Size: bkSize}, &info)
	return info
}

func (nd *bnode) dial(export string) *nbd.Client {
	nd.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nbd.Dial(ctx, "tcp", nd.nbd, export)
	if err != nil {
		nd.t.Fatalf("dial %s on %s: %v", export, nd.p.name, err)
	}
	return c
}

// write writes data at off into the replica's head and into img.
func (nd *bnode) write(replica string, img []byte, off int64, data []byte) {
	nd.t.Helper()
	c := nd.dial(replica)
	defer c.Close()
	if _, err := c.WriteAt(data, off); err != nil {
		nd.t.Fatalf("write %s at %d: %v", replica, off, err)
	}
	if err := c.Flush(); err != nil {
		nd.t.Fatal(err)
	}
	copy(img[off:], data)
}

// read reads the replica's whole head.
func (nd *bnode) read(replica string) []byte {
	nd.t.Helper()
	c := nd.dial(replica)
	defer c.Close()
	buf := make([]byte, bkSize)
	for off := 0; off < bkSize; off += 1 << 20 {
		if _, err := c.ReadAt(buf[off:off+1<<20], int64(off)); err != nil {
			nd.t.Fatalf("read %s at %d: %v", replica, off, err)
		}
	}
	return buf
}

func (nd *bnode) lvolNames() []string {
	nd.t.Helper()
	var all []lvolEntry
	nd.must("bdev_get_bdevs", nil, &all)
	var out []string
	seen := map[string]bool{}
	for _, b := range all {
		if b.Driver.Lvol != nil {
			out = append(out, b.name())
			seen[b.name()] = true
		}
	}
	// Lvols without a bdev (degraded) own space too.
	var every []struct {
		Name string `json:"name"`
	}
	nd.must("bdev_lvol_get_lvols", nil, &every)
	for _, lv := range every {
		if !seen[lv.Name] {
			out = append(out, lv.Name)
		}
	}
	return out
}

func (nd *bnode) hasLvol(name string) bool {
	nd.t.Helper()
	for _, n := range nd.lvolNames() {
		if n == name {
			return true
		}
	}
	return false
}

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %v; last: %s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// backup runs a backup to its end and returns the final status.
func (nd *bnode) backup(req improto.ReplicaBackupRequest) improto.BackupJobStatus {
	nd.t.Helper()
	var st improto.BackupJobStatus
	nd.must(improto.MethodReplicaBackupStart, req, &st)
	waitFor(nd.t, "backup "+req.Backup, 60*time.Second, func() (bool, string) {
		if err := nd.rpc(improto.MethodReplicaBackupStatus, improto.BackupNameRequest{Backup: req.Backup}, &st); err != nil {
			return false, err.Error()
		}
		return st.State != improto.JobInProgress, fmt.Sprintf("%+v", st)
	})
	return st
}

func (nd *bnode) restoreStatus(replica string) improto.RestoreStatus {
	nd.t.Helper()
	var st improto.RestoreStatus
	nd.must(improto.MethodReplicaRestoreStatus, improto.ReplicaNameRequest{Replica: replica}, &st)
	return st
}

// restore runs a restore to its end and returns the final status.
func (nd *bnode) restore(req improto.ReplicaRestoreRequest) improto.RestoreStatus {
	nd.t.Helper()
	var st improto.RestoreStatus
	nd.must(improto.MethodReplicaRestoreStart, req, &st)
	waitFor(nd.t, "restore "+req.Backup+" into "+req.Replica, 60*time.Second, func() (bool, string) {
		st = nd.restoreStatus(req.Replica)
		return !st.IsRestoring, fmt.Sprintf("%+v", st)
	})
	return st
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b9))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// bkFixture is a source replica on node 0 with two snapshots backed up
// (b0, b1) and what each holds.
type bkFixture struct {
	nodes      []*bnode
	target     improto.BackupTarget
	img0, img1 []byte
}

// newBackupFixture writes b0's data (blocks 0-5), snapshots and backs it up;
// then zeroes block 1, rewrites part of blocks 2-5, writes new blocks 8-11,
// snapshots and backs up b1.
func newBackupFixture(t *testing.T, nodes []*bnode, target improto.BackupTarget) *bkFixture {
	t.Helper()
	f := &bkFixture{nodes: nodes, target: target}
	src := nodes[0]
	src.createReplica(srcRep)
	img := make([]byte, bkSize)
	src.write(srcRep, img, 0, randomBytes(1, 6*bkBlock))
	src.must("im_replica_snapshot", map[string]any{"name": srcRep, "snapshot": "s0"}, nil)
	f.img0 = bytes.Clone(img)
	st := src.backup(improto.ReplicaBackupRequest{Replica: srcRep, Snapshot: "s0", Target: target, Volume: "vol1", Backup: "b0"})
	if st.State != improto.JobComplete || st.Progress != 100 || st.Size != bkSize || st.BytesUploaded <= 0 || st.BytesRead != bkSize {
		t.Fatalf("backup b0: %+v", st)
	}
	if _, err := time.Parse(time.RFC3339, st.CreatedAt); err != nil {
		t.Fatalf("backup b0 created_at %q: %v", st.CreatedAt, err)
	}
	src.write(srcRep, img, 1*bkBlock, make([]byte, bkBlock))
	for b := int64(2); b <= 5; b++ {
		src.write(srcRep, img, b*bkBlock+4096, randomBytes(uint64(10+b), 64<<10))
	}
	src.write(srcRep, img, 8*bkBlock, randomBytes(2, 4*bkBlock))
	src.must("im_replica_snapshot", map[string]any{"name": srcRep, "snapshot": "s1"}, nil)
	// Written after the snapshot: must not be in b1.
	src.write(srcRep, bytes.Clone(img), 14*bkBlock, randomBytes(3, bkBlock))
	f.img1 = img
	st = src.backup(improto.ReplicaBackupRequest{Replica: srcRep, Snapshot: "s1", Target: target, Volume: "vol1", Backup: "b1", Labels: map[string]string{"k": "v"}})
	if st.State != improto.JobComplete {
		t.Fatalf("backup b1: %+v", st)
	}
	return f
}

// changedDataBlocks is how many non-zero blocks differ between b0 and b1:
// the most an incremental restore may pull (block 1 became zero: written,
// never fetched).
const changedDataBlocks = 4 + 4

// checkRestoreFlow restores b0 into a replica on node 1 in full, then b1
// incrementally, checking data, lastRestored, the chain and the bytes
// pulled.
func checkRestoreFlow(t *testing.T, f *bkFixture) {
	dst := f.nodes[1]
	dst.createReplica(dstRep)
	st := dst.restore(improto.ReplicaRestoreRequest{Replica: dstRep, Target: f.target, Volume: "vol1", Backup: "b0"})
	if st.State != improto.JobComplete || st.Error != "" || st.LastRestored != "b0" || st.Progress != 100 {
		t.Fatalf("restore b0: %+v", st)
	}
	if !bytes.Equal(dst.read(dstRep), f.img0) {
		t.Fatal("replica restored from b0 differs from the source's first snapshot")
	}
	full := st.BytesPulled
	st = dst.restore(improto.ReplicaRestoreRequest{Replica: dstRep, Target: f.target, Volume: "vol1", Backup: "b1"})
	if st.State != improto.JobComplete || st.LastRestored != "b1" {
		t.Fatalf("restore b1: %+v", st)
	}
	if !bytes.Equal(dst.read(dstRep), f.img1) {
		t.Fatal("replica restored from b0 then b1 differs from the source's second snapshot")
	}
	if max := int64(changedDataBlocks * (bkBlock + 16)); st.BytesPulled <= 0 || st.BytesPulled > max {
		t.Fatalf("incremental restore pulled %d bytes, want 1..%d (the changed blocks)", st.BytesPulled, max)
	}
	t.Logf("full restore of b0 pulled %d bytes; incremental b0->b1 pulled %d bytes", full, st.BytesPulled)
	var info improto.ReplicaInfo
	dst.must(improto.MethodReplicaGet, improto.NameRequest{Name: dstRep}, &info)
	want := []string{instance.RestoreSnapshot(dstRep, "b1"), dstRep}
	if info.LastRestored != "b1" || !slicesEqual(info.Chain, want) {
		t.Fatalf("replica after restores: last_restored %q chain %v, want b1 and %v", info.LastRestored, info.Chain, want)
	}
	for _, n := range dst.lvolNames() {
		if strings.HasSuffix(n, "-restore") || n == instance.RestoreSnapshot(dstRep, "b0") {
			t.Fatalf("lvol %s left after the restores: %v", n, dst.lvolNames())
		}
	}
	// Restoring what the replica holds is done at once.
	var again improto.RestoreStatus
	dst.must(improto.MethodReplicaRestoreStart, improto.ReplicaRestoreRequest{Replica: dstRep, Target: f.target, Volume: "vol1", Backup: "b1"}, &again)
	if again.IsRestoring || again.State != improto.JobComplete || again.BytesPulled != 0 {
		t.Fatalf("restore of the backup already held: %+v", again)
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// TestBackupRestoreFile backs up two snapshots to a file target and
// restores them, in full then incrementally, into a replica on another
// node; it also checks the methods' answers for what is unknown.
func TestBackupRestoreFile(t *testing.T) {
	nodes := startBackupNodes(t, 2)
	target := improto.BackupTarget{URL: "file://" + t.TempDir()}
	f := newBackupFixture(t, nodes, target)
	checkRestoreFlow(t, f)

	src := nodes[0]
	// Starting a known backup answers its status and starts nothing.
	var st improto.BackupJobStatus
	src.must(improto.MethodReplicaBackupStart, improto.ReplicaBackupRequest{Replica: srcRep, Snapshot: "s0", Target: target, Volume: "vol1", Backup: "b1"}, &st)
	if st.State != improto.JobComplete || st.Backup != "b1" {
		t.Fatalf("start of a known backup: %+v", st)
	}
	for _, tc := range []struct {
		method string
		params any
	}{
		{improto.MethodReplicaBackupStatus, improto.BackupNameRequest{Backup: "nope"}},
		{improto.MethodReplicaBackupStart, improto.ReplicaBackupRequest{Replica: "vol9-r-zzzzzzzz", Snapshot: "s0", Target: target, Volume: "vol9", Backup: "x1"}},
		{improto.MethodReplicaBackupStart, improto.ReplicaBackupRequest{Replica: srcRep, Snapshot: "nope", Target: target, Volume: "vol1", Backup: "x2"}},
		{improto.MethodReplicaRestoreStart, improto.ReplicaRestoreRequest{Replica: "vol9-r-zzzzzzzz", Target: target, Volume: "vol1", Backup: "b0"}},
		{improto.MethodReplicaRestoreStatus, improto.ReplicaNameRequest{Replica: "vol9-r-zzzzzzzz"}},
	} {
		var e *jsonrpc.Error
		if err := src.rpc(tc.method, tc.params, nil); !errors.As(err, &e) || e.Code != -19 {
			t.Errorf("%s %+v: %v, want error -19", tc.method, tc.params, err)
		}
	}
}

// TestBackupRestoreS3 runs the same backups and restores against a real S3
// server (versitygw), then stops the server: a restore then fails with an
// error that names the target unreachable, and lastRestored stays.
func TestBackupRestoreS3(t *testing.T) {
	nodes := startBackupNodes(t, 2)
	gw := versitygw.Start(t)
	target := improto.BackupTarget{URL: gw.URL("backups"), AccessKey: versitygw.AccessKey, SecretKey: versitygw.SecretKey, Endpoint: gw.Endpoint}
	f := newBackupFixture(t, nodes, target)
	checkRestoreFlow(t, f)

	gw.Stop()
	dst := nodes[1]
	dst.createReplica(dstRep2)
	st := dst.restore(improto.ReplicaRestoreRequest{Replica: dstRep2, Target: target, Volume: "vol1", Backup: "b0"})
	checkRestoreError(t, dst, dstRep2, st, "unreachable", "")
	bst := nodes[0].backup(improto.ReplicaBackupRequest{Replica: srcRep, Snapshot: "s1", Target: target, Volume: "vol1", Backup: "b2"})
	if bst.State != improto.JobError || !strings.Contains(bst.Error, "unreachable") {
		t.Fatalf("backup to a stopped S3 server: %+v, want error naming unreachable", bst)
	}
}

// checkRestoreError requires a failed restore: state error naming kind,
// lastRestored still want, and no restore snapshot of the failed backup.
func checkRestoreError(t *testing.T, nd *bnode, replica string, st improto.RestoreStatus, kind, want string) {
	t.Helper()
	if st.State != improto.JobError || st.IsRestoring || !strings.Contains(st.Error, kind) {
		t.Fatalf("restore status %+v, want state error naming %q", st, kind)
	}
	if st.LastRestored != want {
		t.Fatalf("last restored %q after a failed restore, want %q", st.LastRestored, want)
	}
	var info improto.ReplicaInfo
	nd.must(improto.MethodReplicaGet, improto.NameRequest{Name: replica}, &info)
	if info.LastRestored != want {
		t.Fatalf("replica's last restored %q after a failed restore, want %q", info.LastRestored, want)
	}
	for _, n := range nd.lvolNames() {
		if strings.HasPrefix(n, replica+"-snap-restore-") && n != instance.RestoreSnapshot(replica, want) {
			t.Fatalf("failed restore committed snapshot %s", n)
		}
	}
}

// TestRestoreErrors: a corrupted block on a file target fails the restore
// naming corruption, a removed target directory fails backups and restores
// naming the target unreachable; lastRestored never moves.
func TestRestoreErrors(t *testing.T) {
	nodes := startBackupNodes(t, 2)
	dir := t.TempDir()
	target := improto.BackupTarget{URL: "file://" + dir}
	f := newBackupFixture(t, nodes, target)
	dst := nodes[1]
	dst.createReplica(dstRep)
	st := dst.restore(improto.ReplicaRestoreRequest{Replica: dstRep, Target: target, Volume: "vol1", Backup: "b0"})
	if st.State != improto.JobComplete {
		t.Fatalf("restore b0: %+v", st)
	}

	// Corrupt the payload of every stored block, so whichever block the
	// restore fetches first fails its check.
	var blocks []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".blk") {
			blocks = append(blocks, p)
		}
		return nil
	})
	if len(blocks) < 10 {
		t.Fatalf("only %d blocks on the target", len(blocks))
	}
	for _, p := range blocks {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st = dst.restore(improto.ReplicaRestoreRequest{Replica: dstRep, Target: target, Volume: "vol1", Backup: "b1"})
	checkRestoreError(t, dst, dstRep, st, "corrupt", "b0")
	if !bytes.Equal(dst.read(dstRep), f.img0) {
		t.Fatal("a failed restore changed what the replica reads")
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	st = dst.restore(improto.ReplicaRestoreRequest{Replica: dstRep, Target: target, Volume: "vol1", Backup: "b1"})
	checkRestoreError(t, dst, dstRep, st, "unreachable", "b0")
	bst := nodes[0].backup(improto.ReplicaBackupRequest{Replica: srcRep, Snapshot: "s1", Target: target, Volume: "vol1", Backup: "b2"})
	if bst.State != improto.JobError || !strings.Contains(bst.Error, "unreachable") {
		t.Fatalf("backup to a removed directory: %+v, want error naming unreachable", bst)
	}
}

// restoreRate makes b0->b1 (8 data blocks and a zero block, 18 MiB) take
// about 4.5 s.
const restoreRate = 4 << 20

// startSlowRestore starts a rate-limited restore and waits until it has
// written something.
func startSlowRestore(t *testing.T, nd *bnode, req improto.ReplicaRestoreRequest) improto.RestoreStatus {
	t.Helper()
	req.RateLimit = restoreRate
	var st improto.RestoreStatus
	nd.must(improto.MethodReplicaRestoreStart, req, &st)
	waitFor(t, "restore under way", 20*time.Second, func() (bool, string) {
		st = nd.restoreStatus(req.Replica)
		return st.IsRestoring && st.Progress > 0, fmt.Sprintf("%+v", st)
	})
	return st
}

// TestRestoreInterruptedByReplicaRestart: a replica restarted for a new
// engine interrupts its restore, which then reports neither restoring nor
// an error, keeps lastRestored, and leaves a scratch lvol that the next
// restore deletes; that restore completes.
func TestRestoreInterruptedByReplicaRestart(t *testing.T) {
	nodes := startBackupNodes(t, 2)
	target := improto.BackupTarget{URL: "file://" + t.TempDir()}
	f := newBackupFixture(t, nodes, target)
	dst := nodes[1]
	dst.createReplica(dstRep)
	if st := dst.restore(improto.ReplicaRestoreRequest{Replica: dstRep, Target: target, Volume: "vol1", Backup: "b0"}); st.State != improto.JobComplete {
		t.Fatalf("restore b0: %+v", st)
	}
	req := improto.ReplicaRestoreRequest{Replica: dstRep, Target: target, Volume: "vol1", Backup: "b1"}
	start := time.Now()
	startSlowRestore(t, dst, req)

	// While it runs: the same restore answers its status, another is busy.
	var st improto.RestoreStatus
	dst.must(improto.MethodReplicaRestoreStart, req, &st)
	if !st.IsRestoring || st.Backup != "b1" || st.State != improto.JobInProgress || st.LastRestored != "b0" {
		t.Fatalf("second start of the running restore: %+v", st)
	}
	var e *jsonrpc.Error
	other := req
	other.Backup = "b0"
	if err := dst.rpc(improto.MethodReplicaRestoreStart, other, nil); !errors.As(err, &e) || e.Code != -16 {
		t.Fatalf("restore of another backup during a restore: %v, want error -16", err)
	}

	restart := time.Now()
	dst.createReplica(dstRep)
	t.Logf("replica restart interrupted the restore %v after its start and returned in %v", restart.Sub(start), time.Since(restart))
	st = dst.restoreStatus(dstRep)
	if st.IsRestoring || st.State != "" || st.Error != "" || st.LastRestored != "b0" || st.Progress >= 100 {
		t.Fatalf("after the interruption: %+v, want not restoring, no state, no error, last restored b0", st)
	}
	if !dst.hasLvol(dstRep + "-restore") {
		t.Fatalf("no scratch lvol after the interruption: %v", dst.lvolNames())
	}
	if !bytes.Equal(dst.read(dstRep), f.img0) {
		t.Fatal("an interrupted restore changed what the replica reads")
	}

	st = dst.restore(req)
	if st.State != improto.JobComplete || st.LastRestored != "b1" {
		t.Fatalf("restore after the interruption: %+v", st)
	}
	if !bytes.Equal(dst.read(dstRep), f.img1) {
		t.Fatal("replica restored after an interruption differs from the source's second snapshot")
	}
	for _, n := range dst.lvolNames() {
		if strings.HasSuffix(n, "-restore") {
			t.Fatalf("scratch %s left after the restore: %v", n, dst.lvolNames())
		}
	}
}

// TestRestoreNodeRestart: a node killed during a restore collects the
// scratch lvol when it starts; the replica keeps lastRestored and the
// restore can be run again.
func TestRestoreNodeRestart(t *testing.T) {
	nodes := startBackupNodes(t, 2)
	target := improto.BackupTarget{URL: "file://" + t.TempDir()}
	f := newBackupFixture(t, nodes, target)
	dst := nodes[1]
	dst.createReplica(dstRep)
	req := improto.ReplicaRestoreRequest{Replica: dstRep, Target: target, Volume: "vol1", Backup: "b1"}
	startSlowRestore(t, dst, req)
	if !dst.hasLvol(dstRep + "-restore") {
		t.Fatalf("no scratch lvol during the restore: %v", dst.lvolNames())
	}
	dst.restart()
	if dst.hasLvol(dstRep + "-restore") {
		t.Fatalf("scratch lvol survived the node restart: %v", dst.lvolNames())
	}
	if !strings.Contains(dst.p.logs(), "collecting leftovers") {
		t.Fatal("the node did not say it collected the scratch lvol")
	}
	st := dst.restoreStatus(dstRep)
	if st.IsRestoring || st.LastRestored != "" {
		t.Fatalf("after the node restart: %+v, want not restoring and nothing restored", st)
	}
	// The replica is known but stopped after the restart: the restore
	// runs into it as it is, and it is started to be read.
	if st = dst.restore(req); st.State != improto.JobComplete || st.LastRestored != "b1" {
		t.Fatalf("restore after the node restart: %+v", st)
	}
	dst.createReplica(dstRep)
	if !bytes.Equal(dst.read(dstRep), f.img1) {
		t.Fatal("replica restored after a node restart differs from the source's second snapshot")
	}
}

// TestDeleteReplicaStopsRestore: deleting a replica with its data stops a
// restore into it and leaves nothing of it on disk.
func TestDeleteReplicaStopsRestore(t *testing.T) {
	nodes := startBackupNodes(t, 2)
	target := improto.BackupTarget{URL: "file://" + t.TempDir()}
	newBackupFixture(t, nodes, target)
	dst := nodes[1]
	dst.createReplica(dstRep)
	startSlowRestore(t, dst, improto.ReplicaRestoreRequest{Replica: dstRep, Target: target, Volume: "vol1", Backup: "b1"})
	dst.must(improto.MethodReplicaDelete, improto.ReplicaDeleteRequest{Name: dstRep, CleanupDisk: true}, nil)
	re := regexp.MustCompile("^" + regexp.QuoteMeta(dstRep))
	for _, n := range dst.lvolNames() {
		if re.MatchString(n) {
			t.Fatalf("lvol %s of the deleted replica left: %v", n, dst.lvolNames())
		}
	}
	var e *jsonrpc.Error
	if err := dst.rpc(improto.MethodReplicaRestoreStatus, improto.ReplicaNameRequest{Replica: dstRep}, nil); !errors.As(err, &e) || e.Code != -19 {
		t.Fatalf("restore status of the deleted replica: %v, want error -19", err)
	}
}

// hungServer accepts connections and never answers: an S3 endpoint that
// keeps a backup in flight until it is cancelled.
func hungServer(t *testing.T) (endpoint string, accepted <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String(), got
}

// TestDeleteReplicaStopsBackup: deleting a replica with its data first
// stops the backups reading its snapshots and waits for them; the backup
// then reports an interruption and nothing of the replica is left.
func TestDeleteReplicaStopsBackup(t *testing.T) {
	nodes := startBackupNodes(t, 1)
	src := nodes[0]
	src.createReplica(srcRep)
	src.write(srcRep, make([]byte, bkSize), 0, randomBytes(1, bkBlock))
	src.must("im_replica_snapshot", map[string]any{"name": srcRep, "snapshot": "s0"}, nil)
	endpoint, accepted := hungServer(t)
	target := improto.BackupTarget{URL: "s3://bucket@us-east-1/p", AccessKey: "a", SecretKey: "s", Endpoint: endpoint}
	var st improto.BackupJobStatus
	src.must(improto.MethodReplicaBackupStart, improto.ReplicaBackupRequest{Replica: srcRep, Snapshot: "s0", Target: target, Volume: "vol1", Backup: "b0"}, &st)
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the backup never reached its target")
	}
	src.must(improto.MethodReplicaBackupStatus, improto.BackupNameRequest{Backup: "b0"}, &st)
	if st.State != improto.JobInProgress {
		t.Fatalf("backup against a server that never answers: %+v, want in progress", st)
	}
	start := time.Now()
	src.must(improto.MethodReplicaDelete, improto.ReplicaDeleteRequest{Name: srcRep, CleanupDisk: true}, nil)
	t.Logf("replica deletion stopped its backup and returned in %v", time.Since(start))
	src.must(improto.MethodReplicaBackupStatus, improto.BackupNameRequest{Backup: "b0"}, &st)
	if st.State != improto.JobError || !strings.Contains(st.Error, "interrupted") {
		t.Fatalf("backup after its replica was deleted: %+v, want an interruption error", st)
	}
	for _, n := range src.lvolNames() {
		if strings.HasPrefix(n, srcRep) {
			t.Fatalf("lvol %s of the deleted replica left: %v", n, src.lvolNames())
		}
	}
}
