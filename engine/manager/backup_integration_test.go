package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// backupCluster is a manager with a file backup target and two real nodes.
type backupCluster struct {
	tm     *testManager
	target string // the default target's directory
}

func startBackupCluster(t *testing.T) *backupCluster {
	return startBackupClusterCfg(t, Config{})
}

// startBackupClusterCfg is startBackupCluster with cfg's defects.
func startBackupClusterCfg(t *testing.T, cfg Config) *backupCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts refengine node processes")
	}
	dir := t.TempDir()
	tm := startManager(t, t.TempDir(), Config{NodeTimeout: 2 * time.Second, MonitorInterval: 200 * time.Millisecond, BackupTargetURL: "file://" + dir, Defects: cfg.Defects})
	startNode(t, "n1", "127.0.0.2", tm.url)
	startNode(t, "n2", "127.0.0.3", tm.url)
	waitFor(t, "two nodes up with an lvstore", func() (bool, error) {
		nodes, err := tm.c.ListNodes(ctxT(t))
		up := 0
		for _, n := range nodes {
			if n.Status.State == api.NodeUp && len(n.Status.Disks) == 1 && n.Status.Disks[0].LvstoreUUID != "" {
				up++
			}
		}
		return up == 2, err
	})
	return &backupCluster{tm: tm, target: dir}
}

// attached creates a volume, attaches it on n1 and waits until healthy.
func (bc *backupCluster) attached(t *testing.T, ctx context.Context, name string, size int64) api.Volume {
	t.Helper()
	c := bc.tm.c
	if _, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: size, NumberOfReplicas: 2}); err != nil {
		t.Fatal(err)
	}
	return bc.attachOn(t, ctx, name, "n1")
}

// backup takes a backup and waits until it ends; it returns it whatever
// the end.
func (bc *backupCluster) backup(t *testing.T, ctx context.Context, volume string) api.Backup {
	t.Helper()
	b, err := bc.tm.c.CreateBackup(ctx, api.BackupCreateRequest{Volume: volume})
	if err != nil {
		t.Fatal(err)
	}
	b, err = bc.tm.c.WaitBackup(ctx, b.Name, func(b api.Backup) bool {
		return b.Status.State == api.BackupStateCompleted || b.Status.State == api.BackupStateError
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// restoreVolume creates a restore volume and waits until its restore
// completed and it detached itself, or it faulted.
func (bc *backupCluster) restoreVolume(t *testing.T, ctx context.Context, name, url string) api.Volume {
	t.Helper()
	c := bc.tm.c
	if _, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, FromBackup: url, NumberOfReplicas: 2}); err != nil {
		t.Fatal(err)
	}
	v, err := c.WaitVolume(ctx, name, func(v api.Volume) bool {
		return (!v.Status.RestoreRequired && v.Status.State == api.VolumeDetached) || restoreFailed(v)
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (bc *backupCluster) read(t *testing.T, ctx context.Context, name string, off int64, n int) []byte {
	t.Helper()
	c := bc.tm.c
	if _, err := c.AttachVolume(ctx, name, "n2"); err != nil {
		t.Fatal(err)
	}
	v, err := c.WaitVolume(ctx, name, func(v api.Volume) bool {
		return v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy
	})
	if err != nil {
		t.Fatal(err)
	}
	dev := openEndpoint(t, v.Status.Endpoint)
	defer dev.Close()
	got := make([]byte, n)
	if _, err := dev.ReadAt(got, off); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestIntegrationBackupRestore backs a volume up through its replicas'
// node, incrementally, and restores each backup into new volumes; the
// incremental backup uploads only what changed and records a block that
// became zero explicitly.
func TestIntegrationBackupRestore(t *testing.T) {
	bc := startBackupCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v := bc.attached(t, ctx, "src", 16*api.MiB)
	data := make([]byte, 8*api.MiB)
	rand.Read(data)
	dev := openEndpoint(t, v.Status.Endpoint)
	defer dev.Close()
	if _, err := dev.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	b0 := bc.backup(t, ctx, "src")
	if b0.Status.State != api.BackupStateCompleted || b0.Status.BytesUploaded < 8*api.MiB || b0.Status.URL == "" {
		t.Fatalf("b0 %+v: want Completed with 8 MiB of random data uploaded and a URL", b0.Status)
	}
	// One block becomes zero, one changes.
	if err := dev.WriteZeroes(0, backupstore.BlockSize); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.WriteAt(bytes.Repeat([]byte{7}, 4096), 6*api.MiB); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
	b1 := bc.backup(t, ctx, "src")
	if b1.Status.State != api.BackupStateCompleted || b1.Status.BytesUploaded > backupstore.BlockSize+4096 {
		t.Fatalf("b1 %+v: want Completed, uploading one changed block only", b1.Status)
	}
	// The allocation diff since b0's snapshot: only the two blocks written
	// since are read, not the whole volume.
	if b1.Status.BytesRead != 2*backupstore.BlockSize {
		t.Fatalf("b1 read %d bytes: want the two changed blocks (%d), found by the allocation diff", b1.Status.BytesRead, 2*backupstore.BlockSize)
	}
	tgt, err := backupstore.Open(ctx, "file://"+bc.target, backupstore.Credential{})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := backupstore.New(tgt, backupstore.Options{}).Get(ctx, "src", b1.Name)
	if err != nil {
		t.Fatal(err)
	}
	zero := false
	for _, e := range m1.BlockMap {
		zero = zero || (e.Offset == 0 && e.SHA256 == backupstore.ZeroHash)
	}
	if !zero {
		t.Fatalf("b1's block map does not record block 0 as zero: %+v", m1.BlockMap)
	}
	waitFor(t, "src's lastBackup follows to b1", func() (bool, error) {
		v, err := bc.tm.c.GetVolume(ctx, "src")
		return v.Status.LastBackup == b1.Name, err
	})

	want := append([]byte(nil), data...)
	clear(want[:backupstore.BlockSize])
	copy(want[6*api.MiB:], bytes.Repeat([]byte{7}, 4096))
	for _, tc := range []struct {
		name string
		b    api.Backup
		want []byte
	}{{"r0", b0, data}, {"r1", b1, want}} {
		r := bc.restoreVolume(t, ctx, tc.name, tc.b.Status.URL)
		if restoreFailed(r) {
			t.Fatalf("restore of %s failed: %+v", tc.b.Name, r.Status.Conditions)
		}
		if got := bc.read(t, ctx, tc.name, 0, len(tc.want)); !bytes.Equal(got, tc.want) {
			t.Fatalf("volume %s restored from %s differs from the source", tc.name, tc.b.Name)
		}
	}
}

// TestIntegrationRestoreBadData: a restore from a backup with a corrupt
// block, a missing block or a corrupt manifest fails every replica, and the
// volume ends faulted with RestoreFailure, still restore-required, never
// salvaged, refusing attach; a target that vanishes during a backup ends
// the backup in Error with the cause.
func TestIntegrationRestoreBadData(t *testing.T) {
	bc := startBackupCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v := bc.attached(t, ctx, "src", 16*api.MiB)
	dev := openEndpoint(t, v.Status.Endpoint)
	defer dev.Close()
	data := make([]byte, 6*api.MiB)
	rand.Read(data)
	var backups []api.Backup
	for i := range 3 {
		data[0] = byte(i) // each backup has one block of its own
		if _, err := dev.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		if err := dev.Flush(); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, bc.backup(t, ctx, "src"))
	}
	own := func(b api.Backup) string { // the block file only this backup has
		tgt, _ := backupstore.Open(ctx, "file://"+bc.target, backupstore.Credential{})
		m, err := backupstore.New(tgt, backupstore.Options{}).Get(ctx, "src", b.Name)
		if err != nil {
			t.Fatal(err)
		}
		h := m.BlockMap[0].SHA256
		var path string
		filepath.WalkDir(bc.target, func(p string, d os.DirEntry, err error) error {
			if err == nil && filepath.Base(p) == h+".blk" {
				path = p
			}
			return nil
		})
		if path == "" {
			t.Fatalf("block %s of %s not found under %s", h, b.Name, bc.target)
		}
		return path
	}
	corrupt := own(backups[0])
	b, err := os.ReadFile(corrupt)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(own(backups[1])); err != nil {
		t.Fatal(err)
	}
	var manifest string
	filepath.WalkDir(bc.target, func(p string, d os.DirEntry, err error) error {
		if err == nil && filepath.Base(p) == backups[2].Name+".json" {
			manifest = p
		}
		return nil
	})
	if err := os.WriteFile(manifest, []byte(`{"version": 1, "name": "trunc`), 0o644); err != nil {
		t.Fatal(err)
	}

	for i, what := range []string{"corrupt", "not found", "corrupt"} {
		name := []string{"bad-block", "missing-block", "bad-manifest"}[i]
		r := bc.restoreVolume(t, ctx, name, backups[i].Status.URL)
		if !restoreFailed(r) || !r.Status.RestoreRequired || r.Status.Robustness != api.RobustnessFaulted || !r.Status.LastSalvagedAt.IsZero() {
			t.Fatalf("%s: volume %+v: want faulted with RestoreFailure, restore still required, never salvaged", name, r.Status)
		}
		msg := ""
		for _, cd := range r.Status.Conditions {
			if cd.Type == api.ConditionRestore {
				msg = cd.Message
			}
		}
		if !strings.Contains(msg, what) {
			t.Errorf("%s: Restore condition message %q does not name the cause %q", name, msg, what)
		}
		if _, err := bc.tm.c.AttachVolume(ctx, name, "n1"); !api.IsCode(err, 409) {
			t.Errorf("%s: user attach of a failed restore: %v, want 409", name, err)
		}
		if _, err := bc.tm.c.DeleteVolume(ctx, name); err != nil {
			t.Errorf("%s: delete a failed restore volume: %v", name, err)
		}
	}

	// The target vanishes once the backup was accepted (before its node
	// opens the target: the snapshot is taken first).
	b0, err := bc.tm.c.CreateBackup(ctx, api.BackupCreateRequest{Volume: "src"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bc.target, bc.target+".gone"); err != nil {
		t.Fatal(err)
	}
	got, err := bc.tm.c.WaitBackup(ctx, b0.Name, func(b api.Backup) bool {
		return b.Status.State == api.BackupStateCompleted || b.Status.State == api.BackupStateError
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.State != api.BackupStateError || !strings.Contains(got.Status.Error, "unreachable") {
		t.Errorf("backup whose target vanished: %s %q, want Error naming the target unreachable", got.Status.State, got.Status.Error)
	}
}
