package client

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// waitFor re-reads an object with get until cond holds or ctx ends, and
// returns the last value seen; a missing object (404) is passed to cond as
// the zero value. It re-reads after every commit on the change stream, so
// it wakes on the first relevant change instead of on a poll interval, and
// polls every 200 ms when the manager offers no stream.
func waitFor[T any](ctx context.Context, c *Client, what string, get func(context.Context) (T, error), cond func(T) bool) (T, error) {
	head, err := c.Events(ctx, 0, 0, 1)
	since := head.Last
	useStream := err == nil
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := get(ctx)
		switch {
		case api.IsNotFound(err):
			var zero T
			v = zero
		case err != nil:
			return v, err
		}
		if cond(v) {
			return v, nil
		}
		if useStream {
			l, err := c.Events(ctx, since, 10*time.Second, 10000)
			if err != nil {
				return v, fmt.Errorf("wait for %s: %w", what, err)
			}
			since = l.Next
			continue
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}
