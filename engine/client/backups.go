package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/faultline/faultline/engine/api"
)

// CreateBackup asks for a backup of a volume. Without req.SnapshotName the
// manager first takes a snapshot named after the backup. The backup comes
// back New; a node carries it out, so follow it with GetBackup or
// WaitBackup.
func (c *Client) CreateBackup(ctx context.Context, req api.BackupCreateRequest) (api.Backup, error) {
	var b api.Backup
	return b, c.do(ctx, http.MethodPost, "/v1/backups", req, &b)
}

// GetBackup returns one backup.
func (c *Client) GetBackup(ctx context.Context, name string) (api.Backup, error) {
	var b api.Backup
	return b, c.do(ctx, http.MethodGet, backupPath(name), nil, &b)
}

// ListBackups returns the backups, of one volume (spec.volume) when volume
// is set.
func (c *Client) ListBackups(ctx context.Context, volume string) ([]api.Backup, error) {
	var b []api.Backup
	return b, c.do(ctx, http.MethodGet, "/v1/backups"+volumeQuery(volume), nil, &b)
}

// DeleteBackup asks for a backup's deletion. The answer carries
// spec.deleting; the controller removes the backup from its target, then
// the record, after which GetBackup reports 404.
func (c *Client) DeleteBackup(ctx context.Context, name string) (api.Backup, error) {
	var b api.Backup
	return b, c.do(ctx, http.MethodDelete, backupPath(name), nil, &b)
}

// WaitBackup waits until cond holds for the named backup or ctx ends, and
// returns the last backup seen. While the backup does not exist cond sees
// the zero Backup (Name ""), so cond can wait for a deletion.
func (c *Client) WaitBackup(ctx context.Context, name string, cond func(api.Backup) bool) (api.Backup, error) {
	return waitFor(ctx, c, "backup "+name, func(ctx context.Context) (api.Backup, error) { return c.GetBackup(ctx, name) }, cond)
}

// ListBackupVolumes returns every backup volume. With sync the manager
// first asks each one to read its target again and waits (up to 30 s) for
// those reads, so the answer includes backups other clusters made.
func (c *Client) ListBackupVolumes(ctx context.Context, sync bool) ([]api.BackupVolume, error) {
	var b []api.BackupVolume
	path := "/v1/backupvolumes"
	if sync {
		path += "?sync=true"
	}
	return b, c.do(ctx, http.MethodGet, path, nil, &b)
}

// GetBackupVolume returns one backup volume (named by api.BackupVolumeName,
// not by the volume's name).
func (c *Client) GetBackupVolume(ctx context.Context, name string) (api.BackupVolume, error) {
	var b api.BackupVolume
	return b, c.do(ctx, http.MethodGet, backupVolumePath(name), nil, &b)
}

// SyncBackupVolume makes the backup volume read its target now and returns
// it afterwards. The manager waits up to 30 s; a longer read answers 504.
func (c *Client) SyncBackupVolume(ctx context.Context, name string) (api.BackupVolume, error) {
	var b api.BackupVolume
	return b, c.do(ctx, http.MethodPost, backupVolumePath(name)+"/sync", nil, &b)
}

func backupPath(name string) string       { return "/v1/backups/" + url.PathEscape(name) }
func backupVolumePath(name string) string { return "/v1/backupvolumes/" + url.PathEscape(name) }
