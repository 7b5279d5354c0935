package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// recorded is one request as the server saw it.
type recorded struct {
	method, uri, body string
}

// recorder answers every request with the next canned answer and records
// what it was asked.
func recorder(t *testing.T, answers ...string) (*Client, *[]recorded) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []recorded
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, recorded{r.Method, r.URL.RequestURI(), string(b)})
		if len(seen) > len(answers) {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		code, body, _ := strings.Cut(answers[len(seen)-1], " ")
		w.Header().Set("Content-Type", "application/json")
		n, err := strconv.Atoi(code)
		if err != nil {
			t.Errorf("bad canned answer %q", answers[len(seen)-1])
		}
		w.WriteHeader(n)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, &seen
}

// Each method sends the route, query and body the manager serves, and
// decodes the answer.
func TestBackupRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func(c *Client) (any, error)
		answer string
		want   recorded
		check  func(got any) bool
	}{
		{
			"create",
			func(c *Client) (any, error) {
				return c.CreateBackup(ctx, api.BackupCreateRequest{Name: "b1", Volume: "vol1", Labels: map[string]string{"k": "v"}, Compression: "gzip"})
			},
			`201 {"name":"b1","spec":{"volume":"vol1","snapshotName":"b1"},"status":{"state":"New"}}`,
			recorded{"POST", "/v1/backups", `{"name":"b1","volume":"vol1","labels":{"k":"v"},"compression":"gzip"}`},
			func(got any) bool {
				b := got.(api.Backup)
				return b.Name == "b1" && b.Status.State == api.BackupStateNew
			},
		},
		{
			"create without optional fields",
			func(c *Client) (any, error) { return c.CreateBackup(ctx, api.BackupCreateRequest{Volume: "vol1"}) },
			`201 {"name":"backup-1"}`,
			recorded{"POST", "/v1/backups", `{"volume":"vol1"}`},
			func(got any) bool { return got.(api.Backup).Name == "backup-1" },
		},
		{
			"get escapes the name",
			func(c *Client) (any, error) { return c.GetBackup(ctx, "a/b") },
			`200 {"name":"a/b","status":{"state":"Completed","progress":100}}`,
			recorded{"GET", "/v1/backups/a%2Fb", ""},
			func(got any) bool { return got.(api.Backup).Status.Progress == 100 },
		},
		{
			"list all",
			func(c *Client) (any, error) { return c.ListBackups(ctx, "") },
			`200 [{"name":"b1"},{"name":"b2"}]`,
			recorded{"GET", "/v1/backups", ""},
			func(got any) bool { return len(got.([]api.Backup)) == 2 },
		},
		{
			"list of a volume",
			func(c *Client) (any, error) { return c.ListBackups(ctx, "vol 1") },
			`200 []`,
			recorded{"GET", "/v1/backups?volume=vol+1", ""},
			func(got any) bool { return got.([]api.Backup) != nil },
		},
		{
			"delete",
			func(c *Client) (any, error) { return c.DeleteBackup(ctx, "b1") },
			`202 {"name":"b1","spec":{"deleting":true}}`,
			recorded{"DELETE", "/v1/backups/b1", ""},
			func(got any) bool { return got.(api.Backup).Spec.Deleting },
		},
		{
			"list backup volumes",
			func(c *Client) (any, error) { return c.ListBackupVolumes(ctx, false) },
			`200 [{"name":"vol1-0a1b2c3d","status":{"backupCount":2}}]`,
			recorded{"GET", "/v1/backupvolumes", ""},
			func(got any) bool { l := got.([]api.BackupVolume); return len(l) == 1 && l[0].Status.BackupCount == 2 },
		},
		{
			"list backup volumes after a sync",
			func(c *Client) (any, error) { return c.ListBackupVolumes(ctx, true) },
			`200 []`,
			recorded{"GET", "/v1/backupvolumes?sync=true", ""},
			func(got any) bool { return true },
		},
		{
			"get backup volume",
			func(c *Client) (any, error) { return c.GetBackupVolume(ctx, "vol1-0a1b2c3d") },
			`200 {"name":"vol1-0a1b2c3d","status":{"lastBackupName":"b2"}}`,
			recorded{"GET", "/v1/backupvolumes/vol1-0a1b2c3d", ""},
			func(got any) bool { return got.(api.BackupVolume).Status.LastBackupName == "b2" },
		},
		{
			"sync backup volume",
			func(c *Client) (any, error) { return c.SyncBackupVolume(ctx, "vol1-0a1b2c3d") },
			`200 {"name":"vol1-0a1b2c3d","status":{"lastSyncedAt":"2026-11-30T06:00:00Z"}}`,
			recorded{"POST", "/v1/backupvolumes/vol1-0a1b2c3d/sync", ""},
			func(got any) bool { return !got.(api.BackupVolume).Status.LastSyncedAt.IsZero() },
		},
		{
			"activate",
			func(c *Client) (any, error) { return c.ActivateVolume(ctx, "dr1", api.FrontendNBD) },
			`200 {"name":"dr1","spec":{"frontend":"nbd"}}`,
			recorded{"POST", "/v1/volumes/dr1/activate", `{"frontend":"nbd"}`},
			func(got any) bool { return got.(api.Volume).Spec.Frontend == api.FrontendNBD },
		},
		{
			"create a DR volume",
			func(c *Client) (any, error) {
				return c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "dr1", Size: api.MiB, FromBackup: "file:///b?backup=b1&volume=vol1", Standby: true})
			},
			`201 {"name":"dr1","spec":{"standby":true}}`,
			recorded{"POST", "/v1/volumes", `{"name":"dr1","size":1048576,"fromBackup":"file:///b?backup=b1\u0026volume=vol1","standby":true}`},
			func(got any) bool { return got.(api.Volume).Spec.Standby },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, seen := recorder(t, tt.answer)
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(*seen) != 1 || (*seen)[0] != tt.want {
				t.Fatalf("requests %q, want one %q", *seen, tt.want)
			}
			if !tt.check(got) {
				t.Fatalf("decoded %+v", got)
			}
		})
	}
}

// Only the "not finished" refusal is worth retrying; other refusals of an
// activation (a volume that is not standby, a missing one) are final.
func TestIsActivateNotReady(t *testing.T) {
	c, _ := recorder(t,
		`409 {"code":409,"message":"volume dr1 hasn't finished incremental restored: engine has b1, want b2"}`,
		`400 {"code":400,"message":"volume vol1 is not a standby volume"}`,
		`409 {"code":409,"message":"volume dr1 is being deleted"}`,
		`404 {"code":404,"message":"volume \"x\" not found"}`,
	)
	want := []bool{true, false, false, false}
	for i, w := range want {
		_, err := c.ActivateVolume(context.Background(), "dr1", "")
		if err == nil || IsActivateNotReady(err) != w {
			t.Errorf("answer %d: %v: IsActivateNotReady = %v, want %v", i, err, !w, w)
		}
	}
	if IsActivateNotReady(nil) {
		t.Error("nil error is not-ready")
	}
}

// WaitBackup sees progress until its condition holds, passes a missing
// backup as the zero Backup, and gives up when the context ends.
func TestWaitBackup(t *testing.T) {
	c, seen := recorder(t,
		`404 {"code":404,"message":"no events here"}`,
		`200 {"name":"b1","status":{"state":"New"}}`,
		`200 {"name":"b1","status":{"state":"InProgress","progress":40}}`,
		`200 {"name":"b1","status":{"state":"Completed","progress":100}}`,
	)
	var states []string
	b, err := c.WaitBackup(context.Background(), "b1", func(b api.Backup) bool {
		states = append(states, b.Status.State)
		return b.Status.State == api.BackupStateCompleted
	})
	if err != nil || b.Status.Progress != 100 || strings.Join(states, ",") != "New,InProgress,Completed" {
		t.Fatalf("WaitBackup: %+v %v, saw %v after %d requests", b, err, states, len(*seen))
	}

	c, _ = recorder(t, `404 {}`, `404 {"code":404,"message":"backup \"b1\" not found"}`)
	b, err = c.WaitBackup(context.Background(), "b1", func(b api.Backup) bool { return b.Name == "" })
	if err != nil || b.Name != "" {
		t.Fatalf("wait for deletion: %+v %v", b, err)
	}

	c, _ = recorder(t, `404 {}`, `200 {"name":"b1","status":{"state":"InProgress"}}`, `200 {"name":"b1","status":{"state":"InProgress"}}`,
		`200 {"name":"b1","status":{"state":"InProgress"}}`, `200 {"name":"b1","status":{"state":"InProgress"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.WaitBackup(ctx, "b1", func(b api.Backup) bool { return false }); err == nil || !strings.Contains(err.Error(), "wait for backup b1") {
		t.Fatalf("wait past the deadline: %v", err)
	}
}
