package instance

import (
	"context"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// heartbeatLoop registers the node with the manager at once and then every
// period until ctx ends. Failures are logged and retried at the next tick:
// the manager may be restarting.
func (m *Manager) heartbeatLoop(ctx context.Context) {
	tick := time.NewTicker(m.opts.Heartbeat)
	defer tick.Stop()
	failing := false
	for {
		err := m.heartbeat(ctx)
		if err != nil {
			// Reconnect next time: a kept-alive connection would keep talking to the
			// address the manager's name had when it was opened (on Kubernetes, a
			// lookup made before the Service existed can land on another host).
			m.mc.CloseIdleConnections()
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			m.log.Warn("heartbeat failed", "err", err)
			failing = true
		case err == nil && failing:
			m.log.Info("heartbeat recovered")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (m *Manager) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(m.opts.Heartbeat, 2*time.Second))
	defer cancel()
	disks, err := m.disks(ctx)
	if err != nil {
		return err
	}
	_, err = m.mc.Heartbeat(ctx, m.opts.Node, api.HeartbeatRequest{
		Address: m.opts.Address, RPCAddress: m.opts.RPCAddress, NBDAddress: m.opts.NBDAddress, Disks: disks,
	})
	return err
}
