package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/workload"
)

const (
	// orphanDeadline bounds how long no-orphans waits for the control
	// plane's background cleanup (replica deletions, rebuild purges) to
	// finish after a recovery or a volume deletion.
	orphanDeadline = 60 * time.Second
	// spaceDeadline does the same for space-bounded: a purge that runs
	// just after a rebuild reports done may still be freeing clusters.
	spaceDeadline = 30 * time.Second
	// integrityInterval is how often those checks run again meanwhile.
	integrityInterval = time.Second
)

// Integrity returns the integrity checkers for the spec's cluster,
// recording every verdict on the spec's timeline.
func (s *Spec) Integrity() integrity.Checker {
	return integrity.Checker{API: s.Client(), Recorder: s.Timeline, Credential: cluster.CredentialOf(s.Env.Cluster)}
}

// NoOrphans runs no-orphans until it passes or orphanDeadline passes and
// returns the last verdict (recorded once, not per attempt).
func (s *Spec) NoOrphans(ctx context.Context) checkers.Verdict {
	quiet := integrity.Checker{API: s.Client(), Credential: cluster.CredentialOf(s.Env.Cluster)}
	return checkers.Record(s.Timeline, integrity.Eventually(ctx, orphanDeadline, integrityInterval, quiet.CheckNoOrphans))
}

// SpaceBounded runs space-bounded for volume ("" for every volume) until
// it passes or spaceDeadline passes.
func (s *Spec) SpaceBounded(ctx context.Context, volume string) checkers.Verdict {
	quiet := integrity.Checker{API: s.Client(), Credential: cluster.CredentialOf(s.Env.Cluster)}
	return checkers.Record(s.Timeline, integrity.Eventually(ctx, spaceDeadline, integrityInterval, func(ctx context.Context) checkers.Verdict {
		inv, err := quiet.ReadInventory(ctx)
		if err != nil {
			return checkers.Verdict{Checker: integrity.NameSpaceBounded, Outcome: checkers.Unknown, At: time.Now(),
				Summary: "cannot read the lvol inventory: " + err.Error()}
		}
		return integrity.SpaceBounded(inv, volume)
	}))
}

// volumeWritable is the checker name of the scenarios' own check that a
// volume which claims to be healthy takes writes.
const volumeWritable = "volume-writable"

// writableVerdict is volume-writable for the writes of h from operation
// index from on, judged against the states the change stream reported and
// the volume as the manager shows it now.
func writableVerdict(ctx context.Context, s *Spec, volume string, h *workload.History, from int) checkers.Verdict {
	var now *api.Volume
	if v, err := s.Client().GetVolume(ctx, volume); err == nil {
		now = &v
	}
	return judgeWritable(volume, h.Start(), h.Ops()[from:], s.States.Samples(), now)
}

// judgeWritable fails when a write in ops failed while the volume claimed
// attached/healthy (by the change stream at the moment of the first
// failure, or now), or was attached degraded, which must take writes too.
// A volume that said it was faulted or not attached may refuse writes.
// start is the history's start, which op times count from.
func judgeWritable(volume string, start time.Time, ops []workload.Op, samples []state.Sample, now *api.Volume) checkers.Verdict {
	v := checkers.Verdict{Checker: volumeWritable, Outcome: checkers.Pass, At: time.Now()}
	var first *workload.Op
	bad, writes := 0, 0
	for _, op := range ops {
		if op.Kind != workload.OpWrite {
			continue
		}
		writes++
		if op.Outcome == workload.Failed || op.Outcome == workload.Unknown {
			bad++
			if first == nil {
				first = &op
			}
		}
	}
	if first == nil {
		v.Summary = fmt.Sprintf("%d writes to %s, none failed", writes, volume)
		return v
	}
	thenState, thenRob := volumeStateAt(samples, volume, start.Add(first.Return))
	v.Evidence = []checkers.Evidence{
		{What: "first failed write", Offset: checkers.Off(first.Offset), Actual: string(first.Outcome), Detail: first.Error},
		{What: "volume when it failed", Actual: thenState + "/" + thenRob},
	}
	healthyNow := false
	if now != nil {
		v.Evidence = append(v.Evidence, checkers.Evidence{What: "volume now", Actual: describeVolume(*now)})
		healthyNow = now.Status.State == api.VolumeAttached && now.Status.Robustness == api.RobustnessHealthy
	}
	switch {
	case thenState == api.VolumeAttached && thenRob == api.RobustnessHealthy || healthyNow:
		v.Outcome = checkers.Fail
		v.Summary = fmt.Sprintf("volume %s claimed attached/healthy while %d of %d writes failed with %s", volume, bad, writes, first.Error)
	case thenState == api.VolumeAttached && thenRob == api.RobustnessDegraded:
		v.Outcome = checkers.Fail
		v.Summary = fmt.Sprintf("volume %s was attached (degraded), which must take writes, while %d of %d writes failed with %s", volume, bad, writes, first.Error)
	default:
		v.Summary = fmt.Sprintf("%d of %d writes failed while volume %s said it was %s/%s", bad, writes, volume, thenState, thenRob)
	}
	return v
}

// createAttached creates a volume, deletes it in cleanup, attaches it to
// node, waits until it is attached and healthy and connects to its
// frontend.
func createAttached(ctx context.Context, s *Spec, req api.VolumeCreateRequest, node string) (api.Volume, *nbd.Client) {
	c := s.Client()
	req.Frontend = api.FrontendNBD
	_, err := c.CreateVolume(ctx, req)
	Expect(err).NotTo(HaveOccurred(), "create volume %s", req.Name)
	deleteVolumeOnCleanup(s, req.Name)
	s.WaitVolumeState(ctx, req.Name, api.VolumeDetached, time.Minute)
	return attachDial(ctx, s, req.Name, node)
}

// attachDial attaches a detached volume to node, waits until it is
// attached and healthy, and connects to its frontend.
func attachDial(ctx context.Context, s *Spec, name, node string) (api.Volume, *nbd.Client) {
	_, err := s.Client().AttachVolume(ctx, name, node)
	Expect(err).NotTo(HaveOccurred(), "attach volume %s to %s", name, node)
	vol := seedAwaitVolume(ctx, s, name, time.Now(), 2*time.Minute, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy})
	return vol, seedDial(ctx, s, vol.Status.Endpoint, time.Minute)
}

// engineOf returns the engine of an attached volume.
func engineOf(ctx context.Context, s *Spec, volume string) api.Engine {
	engines, err := s.Client().ListEngines(ctx, volume)
	Expect(err).NotTo(HaveOccurred())
	Expect(engines).To(HaveLen(1), "engines of attached volume %s", volume)
	return engines[0]
}

// replicasOffNode returns the volume's replicas (not being deleted) that
// are not on node (all of them for node ""), sorted by name so a seeded
// index picks the same one for the same placement.
func replicasOffNode(ctx context.Context, s *Spec, volume, node string) []api.Replica {
	reps, err := s.Client().ListReplicas(ctx, volume)
	Expect(err).NotTo(HaveOccurred())
	reps = slices.DeleteFunc(reps, func(r api.Replica) bool { return r.Spec.Deleting || r.Spec.Node == node })
	slices.SortFunc(reps, func(a, b api.Replica) int { return strings.Compare(a.Name, b.Name) })
	Expect(reps).NotTo(BeEmpty(), "replicas of %s off node %s", volume, node)
	return reps
}
