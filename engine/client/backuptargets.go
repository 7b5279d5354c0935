package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/faultline/faultline/engine/api"
)

// CreateBackupTarget creates a backup target; its availability is checked
// in the background (see SyncBackupTarget to wait for a check).
func (c *Client) CreateBackupTarget(ctx context.Context, req api.BackupTargetCreateRequest) (api.BackupTarget, error) {
	var b api.BackupTarget
	return b, c.do(ctx, http.MethodPost, "/v1/backuptargets", req, &b)
}

// GetBackupTarget returns one backup target. Its credential never carries
// the secret key, only HasSecret.
func (c *Client) GetBackupTarget(ctx context.Context, name string) (api.BackupTarget, error) {
	var b api.BackupTarget
	return b, c.do(ctx, http.MethodGet, backupTargetPath(name), nil, &b)
}

// ListBackupTargets returns every backup target, "default" included.
func (c *Client) ListBackupTargets(ctx context.Context) ([]api.BackupTarget, error) {
	var b []api.BackupTarget
	return b, c.do(ctx, http.MethodGet, "/v1/backuptargets", nil, &b)
}

// UpdateBackupTarget changes a target's URL, poll interval or credential.
func (c *Client) UpdateBackupTarget(ctx context.Context, name string, req api.BackupTargetUpdateRequest) (api.BackupTarget, error) {
	var b api.BackupTarget
	return b, c.do(ctx, http.MethodPut, backupTargetPath(name), req, &b)
}

// DeleteBackupTarget deletes a target no volume uses. Nothing on the target
// itself is touched.
func (c *Client) DeleteBackupTarget(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, backupTargetPath(name), nil, nil)
}

// SyncBackupTarget checks the target's availability now and returns it with
// the result. If the check outlasts the manager's wait, the target comes
// back with its previous status (the manager answers 202).
func (c *Client) SyncBackupTarget(ctx context.Context, name string) (api.BackupTarget, error) {
	var b api.BackupTarget
	return b, c.do(ctx, http.MethodPost, backupTargetPath(name)+"/sync", nil, &b)
}

func backupTargetPath(name string) string { return "/v1/backuptargets/" + url.PathEscape(name) }
