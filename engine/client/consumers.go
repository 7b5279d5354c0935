package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/faultline/faultline/engine/api"
)

// CreateConsumer creates a pending consumer of a volume on a node; it turns
// running once the volume serves its endpoint there.
func (c *Client) CreateConsumer(ctx context.Context, req api.ConsumerCreateRequest) (api.Consumer, error) {
	var out api.Consumer
	return out, c.do(ctx, http.MethodPost, "/v1/consumers", req, &out)
}

// ListConsumers returns the consumers, of one volume when volume is set.
func (c *Client) ListConsumers(ctx context.Context, volume string) ([]api.Consumer, error) {
	var out []api.Consumer
	return out, c.do(ctx, http.MethodGet, "/v1/consumers"+volumeQuery(volume), nil, &out)
}

// GetConsumer returns one consumer.
func (c *Client) GetConsumer(ctx context.Context, name string) (api.Consumer, error) {
	var out api.Consumer
	return out, c.do(ctx, http.MethodGet, "/v1/consumers/"+url.PathEscape(name), nil, &out)
}

// DeleteConsumer deletes a consumer after its grace period, or at once
// with grace 0 when force is set.
func (c *Client) DeleteConsumer(ctx context.Context, name string, force bool) (api.Consumer, error) {
	path := "/v1/consumers/" + url.PathEscape(name)
	if force {
		path += "?force=true"
	}
	var out api.Consumer
	return out, c.do(ctx, http.MethodDelete, path, nil, &out)
}
