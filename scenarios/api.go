package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// Client returns a control-plane client for the suite's cluster.
func (s *Spec) Client() *client.Client {
	c, err := client.New(s.Env.Cluster.ManagerURL(), nil)
	Expect(err).NotTo(HaveOccurred(), "control-plane client")
	return c
}

// WaitVolumeState waits until the volume reaches state and fails the spec
// with the last state seen when the deadline passes. (The states it passes
// through reach the timeline through the spec's state tracker.)
func (s *Spec) WaitVolumeState(ctx context.Context, name, state string, deadline time.Duration) api.Volume {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	last := ""
	v, err := s.Client().WaitVolume(ctx, name, func(v api.Volume) bool {
		if v.Name != "" {
			last = v.Status.State + "/" + v.Status.Robustness
		}
		return v.Status.State == state
	})
	Expect(err).NotTo(HaveOccurred(), fmt.Sprintf("volume %s did not reach %s within %v (last: %s)", name, state, deadline, last))
	return v
}
