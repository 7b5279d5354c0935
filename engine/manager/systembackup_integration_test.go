package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// sysVolume is one volume of the system backup test and the bytes it must
// hold after the restore.
type sysVolume struct {
	name, target, image string
	detach              bool
	want                []byte
}

// write fills the first len(data) bytes of an attached volume and flushes.
func (bc *backupCluster) write(t *testing.T, v api.Volume, off int64, data []byte) {
	t.Helper()
	dev := openEndpoint(t, v.Status.Endpoint)
	defer dev.Close()
	if _, err := dev.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int64) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// systemBackup takes a system backup and waits until it ends.
func (bc *backupCluster) systemBackup(t *testing.T, ctx context.Context, name, policy string) api.SystemBackup {
	t.Helper()
	c := bc.tm.c
	if _, err := c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: name, VolumeBackupPolicy: policy}); err != nil {
		t.Fatal(err)
	}
	sb, err := c.WaitSystemBackup(ctx, name, func(sb api.SystemBackup) bool {
		return sb.Status.State == api.SystemBackupStateReady || sb.Status.State == api.SystemBackupStateError
	})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Status.State != api.SystemBackupStateReady {
		t.Fatalf("system backup %s: %s: %s", name, sb.Status.State, sb.Status.Error)
	}
	return sb
}

// TestIntegrationSystemBackupRestore is seed 001's mechanism at the API:
// volumes on two targets (one detached, one with a newer write after its
// last user backup), a system backup, the extra target and every volume
// deleted, a system restore. Clean, each volume comes back with its data
// and the bundle records the backup the system backup took; with the
// defect the detached volume is recorded without a backup and comes back
// empty.
func TestIntegrationSystemBackupRestore(t *testing.T) {
	for _, defect := range []bool{false, true} {
		name := "clean"
		if defect {
			name = "defect"
		}
		t.Run(name, func(t *testing.T) {
			testSystemBackupRestore(t, defect)
		})
	}
}

func testSystemBackupRestore(t *testing.T, defect bool) {
	bc := startBackupClusterWith(t, defect)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := bc.tm.c
	extraDir := t.TempDir()
	if _, err := c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: "extra", URL: "file://" + extraDir}); err != nil {
		t.Fatal(err)
	}
	const size = 8 * api.MiB
	image := randomBytes(4 * api.MiB)
	imgPath := filepath.Join(t.TempDir(), "bi.img")
	if err := os.WriteFile(imgPath, image, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: "bi", SourcePath: imgPath}); err != nil {
		t.Fatal(err)
	}
	vols := []*sysVolume{{name: "a", target: "default"}, {name: "b", target: "extra", detach: true}, {name: "c", target: "default"}, {name: "d", target: "default", image: "bi"}}
	for _, sv := range vols {
		if _, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: sv.name, Size: size, NumberOfReplicas: 2, BackupTargetName: sv.target, BackingImage: sv.image}); err != nil {
			t.Fatal(err)
		}
		v := bc.attachOn(t, ctx, sv.name, "n1")
		sv.want = randomBytes(2 * api.MiB)
		bc.write(t, v, 0, sv.want)
		if sv.image != "" {
			// The image shows through beyond the write.
			sv.want = append(sv.want, image[2*api.MiB:]...)
		}
		if sv.name == "c" {
			// A user backup, then a write after it: a stale lastBackup
			// would bring c back without the second write.
			bc.backup(t, ctx, "c")
			more := randomBytes(api.MiB)
			bc.write(t, v, 4*api.MiB, more)
			sv.want = append(append(sv.want, make([]byte, 2*api.MiB)...), more...)
		}
		if sv.detach {
			if _, err := c.DetachVolume(ctx, sv.name); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitVolume(ctx, sv.name, func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
				t.Fatal(err)
			}
		}
	}

	sb := bc.systemBackup(t, ctx, "s1", "")
	bundle, err := c.SystemBackupBundle(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, v := range bundle.Volumes {
		recorded[v.Name] = v.Status.LastBackup
	}
	for _, e := range sb.Status.Volumes {
		if e.Backup == "" {
			t.Fatalf("system backup took no backup of %s (%s): every volume had new data", e.Volume, e.Skipped)
		}
		if !defect && recorded[e.Volume] != e.Backup {
			t.Errorf("bundle records lastBackup %q for %s: want the system backup's %s", recorded[e.Volume], e.Volume, e.Backup)
		}
	}
	if defect && recorded["b"] != "" {
		t.Fatalf("with the defect the detached volume b is recorded with lastBackup %q: want the stale empty one", recorded["b"])
	}
	vb, err := c.WaitVolume(ctx, "b", func(v api.Volume) bool { return v.Status.State == api.VolumeDetached && !v.Spec.DisableFrontend })
	if err != nil {
		t.Fatalf("b was not detached after its maintenance backup: %v", err)
	}
	if vb.Spec.NodeID != "" {
		t.Fatalf("b is still attached to %s", vb.Spec.NodeID)
	}
	if !defect {
		// Nothing written since: if-not-present takes no backup.
		sb2 := bc.systemBackup(t, ctx, "s2", api.VolumeBackupPolicyIfNotPresent)
		for _, e := range sb2.Status.Volumes {
			if e.Skipped != skipUpToDate {
				t.Errorf("second system backup, volume %s: backup %q skipped %q; want up to date", e.Volume, e.Backup, e.Skipped)
			}
		}
	}

	// Some are still attached; the system restore brings them back.
	for _, sv := range vols {
		if _, err := c.ForceDeleteVolume(ctx, sv.name); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitVolume(ctx, sv.name, func(v api.Volume) bool { return v.Name == "" }); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteBackupTarget(ctx, "extra"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteBackingImage(ctx, "bi"); err != nil {
		t.Fatal(err)
	}

	if _, err := c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: "r1", SystemBackup: "s1"}); err != nil {
		t.Fatal(err)
	}
	sr, err := c.WaitSystemRestore(ctx, "r1", func(sr api.SystemRestore) bool {
		return sr.Status.State == api.SystemRestoreStateCompleted || sr.Status.State == api.SystemRestoreStateError
	})
	if err != nil || sr.Status.State != api.SystemRestoreStateCompleted {
		t.Fatalf("system restore: %+v, %v", sr.Status, err)
	}
	if _, err := c.GetBackupTarget(ctx, "extra"); err != nil {
		t.Fatalf("target extra not re-created: %v", err)
	}
	if bi, err := c.GetBackingImage(ctx, "bi"); err != nil || bi.Status.State != api.BackingImageReady {
		t.Fatalf("backing image not re-created from the system backup's copy: %+v, %v", bi.Status, err)
	}
	for _, sv := range vols {
		v, err := c.WaitVolume(ctx, sv.name, func(v api.Volume) bool {
			return v.Name != "" && !v.Status.RestoreRequired && v.Status.State == api.VolumeDetached
		})
		if err != nil {
			t.Fatalf("volume %s not restored: %v", sv.name, err)
		}
		if v.Spec.BackupTargetName != sv.target {
			t.Errorf("volume %s restored on target %q, want %q", sv.name, v.Spec.BackupTargetName, sv.target)
		}
		got := bc.read(t, ctx, sv.name, 0, len(sv.want))
		same := bytes.Equal(got, sv.want)
		switch {
		case !defect && !same:
			t.Errorf("volume %s restored with other data than it held", sv.name)
		case defect && sv.name == "b" && same:
			t.Errorf("with the defect volume b came back with its data: the defect did not reproduce")
		}
	}
}

// startBackupClusterWith starts the backup cluster with seed 001's defect
// switch on or off.
func startBackupClusterWith(t *testing.T, defect bool) *backupCluster {
	if !defect {
		return startBackupCluster(t)
	}
	return startBackupClusterCfg(t, Config{Defects: []string{DefectSysbackupStaleLastBackup}})
}

// attachOn attaches a detached volume on node and waits until healthy.
func (bc *backupCluster) attachOn(t *testing.T, ctx context.Context, name, node string) api.Volume {
	t.Helper()
	c := bc.tm.c
	if _, err := c.WaitVolume(ctx, name, func(v api.Volume) bool { return v.Status.State == api.VolumeDetached }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachVolume(ctx, name, node); err != nil {
		t.Fatal(err)
	}
	v, err := c.WaitVolume(ctx, name, func(v api.Volume) bool {
		return v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
