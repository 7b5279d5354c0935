// Package client is the typed Go client of the refengine manager's REST API.
// The framework and the admin CLI reach the manager only through it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// Client talks to one manager.
type Client struct {
	base string
	hc   *http.Client
	// token is the bearer token sent with every request ("" sends none);
	// node, when set, names the node whose API token it is.
	token, node string
}

// New returns a client for the manager at baseURL (e.g.
// "http://127.0.0.1:9500"). A nil hc means a client without a global timeout:
// deadlines come from the contexts (long polls would trip a global one).
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("manager URL %q: want http://host:port", baseURL)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}, nil
}

// SetToken makes the client send token as its bearer token: the cluster
// credential's AdminAPIToken() or an operator's --api-token-file token. Call
// it before the client is used; "" sends none.
func (c *Client) SetToken(token string) { c.token, c.node = token, "" }

// SetNodeToken makes the client speak for node with its NodeAPIToken(node).
func (c *Client) SetNodeToken(node, token string) { c.token, c.node = token, node }

// Authorize adds the client's credentials to a request made outside the
// client (a node's backing image download).
func (c *Client) Authorize(req *http.Request) {
	if c.token == "" {
		return
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if c.node != "" {
		req.Header.Set(api.NodeHeader, c.node)
	}
}

// CloseIdleConnections drops kept-alive connections, so the next request resolves the manager's
// name and connects afresh. Callers that retry after a failure use it: an idle connection stays
// bound to whatever the name resolved to when it was opened, even when that was wrong or has moved.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// do sends a request and decodes a JSON answer into out (if not nil). Error
// answers come back as *api.Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	return c.send(ctx, method, path, body, "application/json", out)
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	c.Authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.Error
	if json.Unmarshal(b, &e) == nil && e.Code != 0 {
		return &e
	}
	return &api.Error{Code: resp.StatusCode, Message: strings.TrimSpace(string(b))}
}

// Version returns the manager's version.
func (c *Client) Version(ctx context.Context) (api.Version, error) {
	var v api.Version
	return v, c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
}

// CreateVolume creates a volume.
func (c *Client) CreateVolume(ctx context.Context, req api.VolumeCreateRequest) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodPost, "/v1/volumes", req, &v)
}

// GetVolume returns one volume.
func (c *Client) GetVolume(ctx context.Context, name string) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodGet, "/v1/volumes/"+url.PathEscape(name), nil, &v)
}

// ListVolumes returns every volume.
func (c *Client) ListVolumes(ctx context.Context) ([]api.Volume, error) {
	var v []api.Volume
	return v, c.do(ctx, http.MethodGet, "/v1/volumes", nil, &v)
}

// DeleteVolume asks for a volume's deletion; it disappears once the
// controller removed its engine and replicas. An attached volume is refused
// with 409 (see ForceDeleteVolume).
func (c *Client) DeleteVolume(ctx context.Context, name string) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodDelete, "/v1/volumes/"+url.PathEscape(name), nil, &v)
}

// ForceDeleteVolume deletes a volume even while it is attached, cutting
// its client off at once (DeleteVolume answers 409 for an attached volume).
func (c *Client) ForceDeleteVolume(ctx context.Context, name string) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodDelete, "/v1/volumes/"+url.PathEscape(name)+"?force=true", nil, &v)
}

// AttachVolume asks for the volume to be attached to node.
func (c *Client) AttachVolume(ctx context.Context, name, node string) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodPost, "/v1/volumes/"+url.PathEscape(name)+"/attach", api.AttachRequest{Node: node}, &v)
}

// DetachVolume asks for the volume to be detached.
func (c *Client) DetachVolume(ctx context.Context, name string) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodPost, "/v1/volumes/"+url.PathEscape(name)+"/detach", struct{}{}, &v)
}

// SnapshotVolume asks for a snapshot of an attached volume.
func (c *Client) SnapshotVolume(ctx context.Context, name, snapshot string) (api.Snapshot, error) {
	var s api.Snapshot
	return s, c.do(ctx, http.MethodPost, "/v1/volumes/"+url.PathEscape(name)+"/snapshot", api.SnapshotRequest{Name: snapshot}, &s)
}

// UpgradeVolume asks for the volume to move to another engine image.
func (c *Client) UpgradeVolume(ctx context.Context, name, engineImage string) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodPost, "/v1/volumes/"+url.PathEscape(name)+"/upgrade", api.UpgradeRequest{EngineImage: engineImage}, &v)
}

func volumeQuery(volume string) string {
	if volume == "" {
		return ""
	}
	return "?volume=" + url.QueryEscape(volume)
}

// ListReplicas returns the replicas, of one volume when volume is set.
func (c *Client) ListReplicas(ctx context.Context, volume string) ([]api.Replica, error) {
	var r []api.Replica
	return r, c.do(ctx, http.MethodGet, "/v1/replicas"+volumeQuery(volume), nil, &r)
}

// GetReplica returns one replica.
func (c *Client) GetReplica(ctx context.Context, name string) (api.Replica, error) {
	var r api.Replica
	return r, c.do(ctx, http.MethodGet, "/v1/replicas/"+url.PathEscape(name), nil, &r)
}

// DeleteReplica asks for a replica's deletion (and, for an attached
// volume, its replacement).
func (c *Client) DeleteReplica(ctx context.Context, name string) (api.Replica, error) {
	var r api.Replica
	return r, c.do(ctx, http.MethodDelete, "/v1/replicas/"+url.PathEscape(name), nil, &r)
}

// ListEngines returns the engines, of one volume when volume is set.
func (c *Client) ListEngines(ctx context.Context, volume string) ([]api.Engine, error) {
	var e []api.Engine
	return e, c.do(ctx, http.MethodGet, "/v1/engines"+volumeQuery(volume), nil, &e)
}

// GetEngine returns one engine.
func (c *Client) GetEngine(ctx context.Context, name string) (api.Engine, error) {
	var e api.Engine
	return e, c.do(ctx, http.MethodGet, "/v1/engines/"+url.PathEscape(name), nil, &e)
}

// ListSnapshots returns the snapshots, of one volume when volume is set.
func (c *Client) ListSnapshots(ctx context.Context, volume string) ([]api.Snapshot, error) {
	var s []api.Snapshot
	return s, c.do(ctx, http.MethodGet, "/v1/snapshots"+volumeQuery(volume), nil, &s)
}

// GetSnapshot returns one snapshot by resource name (<volume>-s-<name>).
func (c *Client) GetSnapshot(ctx context.Context, name string) (api.Snapshot, error) {
	var s api.Snapshot
	return s, c.do(ctx, http.MethodGet, "/v1/snapshots/"+url.PathEscape(name), nil, &s)
}

// ListNodes returns every node.
func (c *Client) ListNodes(ctx context.Context) ([]api.Node, error) {
	var n []api.Node
	return n, c.do(ctx, http.MethodGet, "/v1/nodes", nil, &n)
}

// GetNode returns one node.
func (c *Client) GetNode(ctx context.Context, name string) (api.Node, error) {
	var n api.Node
	return n, c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(name), nil, &n)
}

// Heartbeat registers a node or refreshes it (the node daemon calls this).
func (c *Client) Heartbeat(ctx context.Context, node string, req api.HeartbeatRequest) (api.Node, error) {
	var n api.Node
	return n, c.do(ctx, http.MethodPut, "/v1/nodes/"+url.PathEscape(node)+"/heartbeat", req, &n)
}

// DeleteNode forgets a node that is down and holds nothing.
func (c *Client) DeleteNode(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/nodes/"+url.PathEscape(name), nil, nil)
}

// CreateBackingImage creates a backing image from a file on the manager's host.
func (c *Client) CreateBackingImage(ctx context.Context, req api.BackingImageCreateRequest) (api.BackingImage, error) {
	var b api.BackingImage
	return b, c.do(ctx, http.MethodPost, "/v1/backingimages", req, &b)
}

// UploadBackingImage streams r as a new backing image; sha512 (optional)
// is verified by the manager.
func (c *Client) UploadBackingImage(ctx context.Context, name string, r io.Reader, sha512 string) (api.BackingImage, error) {
	var b api.BackingImage
	path := "/v1/backingimages/" + url.PathEscape(name) + "/upload"
	if sha512 != "" {
		path += "?sha512=" + url.QueryEscape(sha512)
	}
	return b, c.send(ctx, http.MethodPut, path, r, "application/octet-stream", &b)
}

// DownloadBackingImage returns the image's bytes; the caller closes it.
func (c *Client) DownloadBackingImage(ctx context.Context, name string) (io.ReadCloser, error) {
	path := "/v1/backingimages/" + url.PathEscape(name) + "/download"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	c.Authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp.Body, nil
}

// GetBackingImage returns one backing image.
func (c *Client) GetBackingImage(ctx context.Context, name string) (api.BackingImage, error) {
	var b api.BackingImage
	return b, c.do(ctx, http.MethodGet, "/v1/backingimages/"+url.PathEscape(name), nil, &b)
}

// ListBackingImages returns every backing image.
func (c *Client) ListBackingImages(ctx context.Context) ([]api.BackingImage, error) {
	var b []api.BackingImage
	return b, c.do(ctx, http.MethodGet, "/v1/backingimages", nil, &b)
}

// DeleteBackingImage deletes an unused backing image.
func (c *Client) DeleteBackingImage(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/backingimages/"+url.PathEscape(name), nil, nil)
}

// CreateEngineImage registers an engine image.
func (c *Client) CreateEngineImage(ctx context.Context, req api.EngineImageCreateRequest) (api.EngineImage, error) {
	var e api.EngineImage
	return e, c.do(ctx, http.MethodPost, "/v1/engineimages", req, &e)
}

// GetEngineImage returns one engine image.
func (c *Client) GetEngineImage(ctx context.Context, name string) (api.EngineImage, error) {
	var e api.EngineImage
	return e, c.do(ctx, http.MethodGet, "/v1/engineimages/"+url.PathEscape(name), nil, &e)
}

// ListEngineImages returns every engine image.
func (c *Client) ListEngineImages(ctx context.Context) ([]api.EngineImage, error) {
	var e []api.EngineImage
	return e, c.do(ctx, http.MethodGet, "/v1/engineimages", nil, &e)
}

// DeleteEngineImage deletes an unused engine image.
func (c *Client) DeleteEngineImage(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/engineimages/"+url.PathEscape(name), nil, nil)
}

// Events returns the events after since, waiting up to wait for one when
// there are none yet (0 = answer at once). limit 0 means the server default.
func (c *Client) Events(ctx context.Context, since uint64, wait time.Duration, limit int) (api.EventList, error) {
	q := url.Values{}
	q.Set("since", fmt.Sprint(since))
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	var l api.EventList
	return l, c.do(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, &l)
}

// WaitVolume waits until cond holds for the named volume or ctx ends, and
// returns the last volume seen; while the volume does not exist cond sees
// the zero Volume (Name ""), so cond can wait for a deletion. It re-reads the volume after every commit
// on the change stream, so it wakes on the first relevant change instead of
// on a poll interval.
func (c *Client) WaitVolume(ctx context.Context, name string, cond func(api.Volume) bool) (api.Volume, error) {
	return waitFor(ctx, c, "volume "+name, func(ctx context.Context) (api.Volume, error) { return c.GetVolume(ctx, name) }, cond)
}
