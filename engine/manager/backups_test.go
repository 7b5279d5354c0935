package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
)

// call sends a JSON request to the test manager and decodes the answer
// into out (when non-nil); it returns the status code and the error body.
func call(t testing.TB, tm *testManager, method, path string, body, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, tm.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, string(data)
}

// seedBackups stores backups of volume on a file target directly through
// backupstore, as another cluster would have, and returns their names.
func seedBackups(t testing.TB, dir, volume string, n int) []string {
	t.Helper()
	tgt, err := backupstore.Open(context.Background(), "file://"+dir, backupstore.Credential{})
	if err != nil {
		t.Fatal(err)
	}
	st := backupstore.New(tgt, backupstore.Options{})
	data := make([]byte, 4*backupstore.BlockSize)
	var names []string
	for i := range n {
		data[i*backupstore.BlockSize] = byte(i + 1)
		name := fmt.Sprintf("backup-%d", i)
		_, _, err := st.Backup(context.Background(), backupstore.BackupRequest{
			Volume: volume, Name: name, Snapshot: name, Size: int64(len(data)), Source: bytes.NewReader(data),
		})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// TestLastBackupFollowsBackupVolume checks F5: backups on a target become a
// BackupVolume (named unlike the volume) and Completed Backup objects, and
// the volume's lastBackup follows the backup volume asynchronously, also
// when the newest backup goes away.
func TestLastBackupFollowsBackupVolume(t *testing.T) {
	dir := t.TempDir()
	names := seedBackups(t, dir, "src", 2)
	tm := startManager(t, t.TempDir(), Config{BackupTargetURL: "file://" + dir})

	bvName := api.BackupVolumeName(api.DefaultBackupTarget, "src")
	if bvName == "src" || !strings.HasPrefix(bvName, "src-") {
		t.Fatalf("backup volume name %q: want src-<hex>, never the volume's name", bvName)
	}
	var bv api.BackupVolume
	waitFor(t, "backup volume discovered with its last backup", func() (bool, error) {
		code, _ := call(t, tm, "GET", "/v1/backupvolumes/"+bvName, nil, &bv)
		return code == 200 && bv.Status.LastBackupName == names[1] && bv.Status.BackupCount == 2, nil
	})
	var backups []api.Backup
	waitFor(t, "backups listed as Completed", func() (bool, error) {
		call(t, tm, "GET", "/v1/backups?volume=src", nil, &backups)
		return len(backups) == 2, nil
	})
	for _, b := range backups {
		if b.Status.State != api.BackupStateCompleted || !strings.Contains(b.Status.URL, "backup="+b.Name) {
			t.Fatalf("found backup %+v: want Completed with a URL naming it", b)
		}
	}

	if _, err := tm.c.CreateVolume(ctxT(t), api.VolumeCreateRequest{Name: "src", Size: 8 << 20, NumberOfReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	waitVolume := func(what string, cond func(api.Volume) bool) {
		t.Helper()
		waitFor(t, what, func() (bool, error) {
			v, err := tm.c.GetVolume(ctxT(t), "src")
			return err == nil && cond(v), err
		})
	}
	waitVolume("lastBackup = newest backup", func(v api.Volume) bool { return v.Status.LastBackup == names[1] && !v.Status.LastBackupAt.IsZero() })

	// The newest backup disappears from the target: a sync notices, the
	// Backup object goes, and the volume follows.
	tgt, _ := backupstore.Open(context.Background(), "file://"+dir, backupstore.Credential{})
	if _, err := backupstore.New(tgt, backupstore.Options{}).Delete(context.Background(), "src", names[1]); err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, tm, "POST", "/v1/backupvolumes/"+bvName+"/sync", nil, &bv); code != 200 || bv.Status.LastBackupName != names[0] {
		t.Fatalf("sync: %d %s, last backup %q; want 200 and %q", code, body, bv.Status.LastBackupName, names[0])
	}
	waitVolume("lastBackup back to the older backup", func(v api.Volume) bool { return v.Status.LastBackup == names[0] })
	if code, _ := call(t, tm, "GET", "/v1/backups/"+names[1], nil, nil); code != 404 {
		t.Fatalf("backup gone from the target still listed: GET %d", code)
	}

	// Deleting the target's objects (a second target here) clears them.
	dir2 := t.TempDir()
	seedBackups(t, dir2, "other", 1)
	if _, err := tm.c.CreateBackupTarget(ctxT(t), api.BackupTargetCreateRequest{Name: "second", URL: "file://" + dir2}); err != nil {
		t.Fatal(err)
	}
	bv2 := api.BackupVolumeName("second", "other")
	waitFor(t, "second target's backup volume", func() (bool, error) {
		code, _ := call(t, tm, "GET", "/v1/backupvolumes/"+bv2, nil, nil)
		return code == 200, nil
	})
	if err := tm.c.DeleteBackupTarget(ctxT(t), "second"); err != nil {
		t.Fatal(err)
	}
	if code, _ := call(t, tm, "GET", "/v1/backupvolumes/"+bv2, nil, nil); code != 404 {
		t.Fatalf("backup volume of a deleted target: GET %d, want 404", code)
	}
	if code, _ := call(t, tm, "GET", "/v1/backups/backup-0", nil, nil); code != 200 {
		t.Fatalf("backup of the default target must stay: GET %d", code)
	}
}

// TestStandbyVolumeRules checks the requests a DR volume is created with
// and the ones it refuses.
func TestStandbyVolumeRules(t *testing.T) {
	dir := t.TempDir()
	names := seedBackups(t, dir, "src", 1)
	tm := startManager(t, t.TempDir(), Config{BackupTargetURL: "file://" + dir})
	waitFor(t, "backup known", func() (bool, error) {
		code, _ := call(t, tm, "GET", "/v1/backups/"+names[0], nil, nil)
		return code == 200, nil
	})
	url := api.BackupURL("file://"+dir, "src", names[0])
	bad := []struct {
		name string
		req  api.VolumeCreateRequest
		want string
	}{
		{"standby with frontend", api.VolumeCreateRequest{Name: "dr", FromBackup: url, Standby: true, Frontend: "nbd"}, "no frontend"},
		{"standby without backup", api.VolumeCreateRequest{Name: "dr", Size: 8 << 20, Standby: true}, "needs fromBackup"},
		{"unknown target", api.VolumeCreateRequest{Name: "dr", FromBackup: api.BackupURL("file:///nowhere", "src", names[0]), Standby: true}, "no backup target"},
		{"bad url", api.VolumeCreateRequest{Name: "dr", FromBackup: "file:///x", Standby: true}, "backup URL"},
		{"unknown backup without size", api.VolumeCreateRequest{Name: "dr", FromBackup: api.BackupURL("file://"+dir, "src", "backup-zz"), Standby: true}, "size is required"},
	}
	for _, tc := range bad {
		if code, body := call(t, tm, "POST", "/v1/volumes", tc.req, nil); code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want 400 containing %q", tc.name, code, body, tc.want)
		}
	}
	var v api.Volume
	if code, body := call(t, tm, "POST", "/v1/volumes", api.VolumeCreateRequest{Name: "dr", FromBackup: url, Standby: true, NumberOfReplicas: 1}, &v); code != 201 {
		t.Fatalf("create DR volume: %d %s", code, body)
	}
	if !v.Status.IsStandby || !v.Status.RestoreRequired || v.Spec.Frontend != "" || v.Spec.Size != 4*backupstore.BlockSize || v.Spec.BackupTargetName != api.DefaultBackupTarget {
		t.Fatalf("DR volume %+v: want standby, restoreRequired, no frontend, the backup's size, the default target", v)
	}
	waitFor(t, "DR volume lastBackup from its source's backup volume", func() (bool, error) {
		v, err := tm.c.GetVolume(ctxT(t), "dr")
		return err == nil && v.Status.LastBackup == names[0], err
	})
	refused := []struct {
		name, method, path string
		body               any
		code               int
		want               string
	}{
		{"user attach", "POST", "/v1/volumes/dr/attach", api.AttachRequest{Node: "n1"}, 409, "restoring from a backup"},
		{"snapshot", "POST", "/v1/volumes/dr/snapshot", api.SnapshotRequest{Name: "s1"}, 400, "snapshots are not allowed"},
		{"backup", "POST", "/v1/backups", api.BackupCreateRequest{Volume: "dr"}, 400, "cannot be backed up"},
		{"activate before restore", "POST", "/v1/volumes/dr/activate", api.ActivateRequest{}, 409, api.ActivateNotReadyError},
		{"target URL change", "PUT", "/v1/backuptargets/default", api.BackupTargetUpdateRequest{URL: "file://" + t.TempDir()}, 409, api.BackupTargetStandbyError},
		{"activate a normal volume", "POST", "/v1/volumes/src/activate", api.ActivateRequest{}, 404, ""},
	}
	for _, tc := range refused {
		if code, body := call(t, tm, tc.method, tc.path, tc.body, nil); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d containing %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if _, err := tm.c.DeleteVolume(ctxT(t), "dr"); err != nil {
		t.Fatalf("a DR volume can be deleted: %v", err)
	}
}
