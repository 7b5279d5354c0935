package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/timeline"
)

// Client returns a control-plane client for the suite's cluster.
func (s *Spec) Client() *client.Client {
	c, err := client.New(s.Env.Cluster.ManagerURL(), nil)
	Expect(err).NotTo(HaveOccurred(), "control-plane client")
	return c
}

// WaitVolumeState waits until the volume reaches state, recording every
// state it passes through on the timeline, and fails the spec with the last
// state seen when the deadline passes.
func (s *Spec) WaitVolumeState(ctx context.Context, name, state string, deadline time.Duration) api.Volume {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	last := ""
	v, err := s.Client().WaitVolume(ctx, name, func(v api.Volume) bool {
		if cur := v.Status.State + "/" + v.Status.Robustness; v.Name != "" && cur != last {
			last = cur
			s.Timeline.Add(timeline.Event{Kind: timeline.KindState, Lane: "volume/" + name, Name: v.Status.State,
				Detail: map[string]string{"robustness": v.Status.Robustness, "node": v.Status.Node}})
		}
		return v.Status.State == state
	})
	Expect(err).NotTo(HaveOccurred(), fmt.Sprintf("volume %s did not reach %s within %v (last: %s)", name, state, deadline, last))
	return v
}
