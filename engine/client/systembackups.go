package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/faultline/faultline/engine/api"
)

// CreateSystemBackup starts a system backup. It comes back with an empty
// state; follow it with WaitSystemBackup until Ready or Error.
func (c *Client) CreateSystemBackup(ctx context.Context, req api.SystemBackupCreateRequest) (api.SystemBackup, error) {
	var b api.SystemBackup
	return b, c.do(ctx, http.MethodPost, "/v1/systembackups", req, &b)
}

// GetSystemBackup returns one system backup.
func (c *Client) GetSystemBackup(ctx context.Context, name string) (api.SystemBackup, error) {
	var b api.SystemBackup
	return b, c.do(ctx, http.MethodGet, systemBackupPath(name), nil, &b)
}

// ListSystemBackups returns every system backup.
func (c *Client) ListSystemBackups(ctx context.Context) ([]api.SystemBackup, error) {
	var b []api.SystemBackup
	return b, c.do(ctx, http.MethodGet, "/v1/systembackups", nil, &b)
}

// DeleteSystemBackup asks for a system backup's deletion: the controller
// removes its bundle from the default target, then the record. The volume
// backups it took stay.
func (c *Client) DeleteSystemBackup(ctx context.Context, name string) (api.SystemBackup, error) {
	var b api.SystemBackup
	return b, c.do(ctx, http.MethodDelete, systemBackupPath(name), nil, &b)
}

// SystemBackupBundle reads a Ready system backup's bundle back from the
// default target, as a system restore would.
func (c *Client) SystemBackupBundle(ctx context.Context, name string) (api.SystemBackupBundle, error) {
	var b api.SystemBackupBundle
	return b, c.do(ctx, http.MethodGet, systemBackupPath(name)+"/bundle", nil, &b)
}

// WaitSystemBackup waits until cond holds for the named system backup or
// ctx ends; while it does not exist cond sees the zero SystemBackup.
func (c *Client) WaitSystemBackup(ctx context.Context, name string, cond func(api.SystemBackup) bool) (api.SystemBackup, error) {
	return waitFor(ctx, c, "system backup "+name, func(ctx context.Context) (api.SystemBackup, error) { return c.GetSystemBackup(ctx, name) }, cond)
}

// CreateSystemRestore starts restoring a system backup.
func (c *Client) CreateSystemRestore(ctx context.Context, req api.SystemRestoreCreateRequest) (api.SystemRestore, error) {
	var r api.SystemRestore
	return r, c.do(ctx, http.MethodPost, "/v1/systemrestores", req, &r)
}

// GetSystemRestore returns one system restore.
func (c *Client) GetSystemRestore(ctx context.Context, name string) (api.SystemRestore, error) {
	var r api.SystemRestore
	return r, c.do(ctx, http.MethodGet, systemRestorePath(name), nil, &r)
}

// ListSystemRestores returns every system restore.
func (c *Client) ListSystemRestores(ctx context.Context) ([]api.SystemRestore, error) {
	var r []api.SystemRestore
	return r, c.do(ctx, http.MethodGet, "/v1/systemrestores", nil, &r)
}

// DeleteSystemRestore forgets a finished system restore (what it restored
// stays); a running one answers 409.
func (c *Client) DeleteSystemRestore(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, systemRestorePath(name), nil, nil)
}

// WaitSystemRestore waits until cond holds for the named system restore or
// ctx ends.
func (c *Client) WaitSystemRestore(ctx context.Context, name string, cond func(api.SystemRestore) bool) (api.SystemRestore, error) {
	return waitFor(ctx, c, "system restore "+name, func(ctx context.Context) (api.SystemRestore, error) { return c.GetSystemRestore(ctx, name) }, cond)
}

func systemBackupPath(name string) string  { return "/v1/systembackups/" + url.PathEscape(name) }
func systemRestorePath(name string) string { return "/v1/systemrestores/" + url.PathEscape(name) }
