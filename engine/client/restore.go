package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

// ActivateVolume turns a standby (DR) volume into a normal one with the
// given frontend; the manager then detaches it. While the volume has not
// restored its source's newest backup the manager refuses with a 409 that
// IsActivateNotReady recognises: the caller may retry that one.
func (c *Client) ActivateVolume(ctx context.Context, name, frontend string) (api.Volume, error) {
	var v api.Volume
	return v, c.do(ctx, http.MethodPost, "/v1/volumes/"+url.PathEscape(name)+"/activate", api.ActivateRequest{Frontend: frontend}, &v)
}

// IsActivateNotReady reports whether err is the manager refusing an
// activation only because the DR volume is still behind its source
// (api.ActivateNotReadyError). Any other refusal will not pass by waiting.
func IsActivateNotReady(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Code == http.StatusConflict && strings.Contains(e.Message, api.ActivateNotReadyError)
}
