package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// Client returns a control-plane client for the suite's cluster.
func (s *Spec) Client() *client.Client {
	c, err := cluster.ManagerClient(s.Env.Cluster)
	Expect(err).NotTo(HaveOccurred(), "control-plane client")
	return c
}

// WaitVolumeState waits until the volume reaches state and fails the spec
// with the last state seen when the deadline passes. (The states it passes
// through reach the timeline through the spec's state tracker.)
func (s *Spec) WaitVolumeState(ctx context.Context, name, state string, deadline time.Duration) api.Volume {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	last := "absent"
	v, err := s.Client().WaitVolume(ctx, name, func(v api.Volume) bool {
		if v.Name != "" {
			last = describeVolume(v)
		}
		return v.Status.State == state
	})
	if err != nil {
		Fail(fmt.Sprintf("volume %s did not reach %s within %v; last seen: %s (%v)", name, state, deadline, last, err))
	}
	return v
}

// describeVolume renders a volume's status with its false conditions,
// which say why it is stuck (e.g. Scheduled=false: no node has space).
func describeVolume(v api.Volume) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state=%s robustness=%s", v.Status.State, v.Status.Robustness)
	if v.Status.Node != "" {
		fmt.Fprintf(&b, " node=%s", v.Status.Node)
	}
	for _, c := range v.Status.Conditions {
		if !c.Status {
			fmt.Fprintf(&b, " %s=false(%s: %s)", c.Type, c.Reason, c.Message)
		}
	}
	return b.String()
}

// RequireNodes waits (up to 20s) until the manager knows n nodes that are
// up. When it does not, the control plane cannot place volumes: under go
// test while refengine is being built (SkipWithoutCluster) the spec is
// skipped with the reason, otherwise it fails.
func (s *Spec) RequireNodes(ctx context.Context, n int) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c := s.Client()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	up := 0
	for {
		nodes, err := c.ListNodes(ctx)
		if err == nil {
			up = 0
			for _, nd := range nodes {
				if nd.Status.State == api.NodeUp {
					up++
				}
			}
			if up >= n {
				return
			}
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("the manager knows %d up nodes, want %d: nodes are not registering with the manager", up, n)
			if s.Env.cfg.SkipWithoutCluster {
				Skip("control plane cannot place volumes yet: " + msg)
			}
			Fail(msg)
		case <-tick.C:
		}
	}
}
