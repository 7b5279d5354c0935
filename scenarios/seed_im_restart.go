package scenarios

import (
	"context"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// imRestartLoop is seed 003 (Longhorn #9942): a replica whose instance
// manager restarts must come back from what is on its disk, every time.
// The original bug re-created a head that already existed (-17 File
// exists) and the volume crash-looped; Longhorn verified the fix by
// deleting the instance manager 50 times in a row.
func imRestartLoop() scenario {
	return scenario{
		Name:        "instance-manager-restart-loop",
		Labels:      []string{"seed", "v2"},
		Description: "1-replica volume; delete the instance manager of its node N times (default 50), each time wait for attached+healthy and verify data",
		Timeout:     20 * time.Minute,
		Body:        runIMRestartLoop,
	}
}

const (
	imLoopDefaultIterations = 50
	imLoopSize              = 16 << 20
	imLoopFirstWrites       = 512
	imLoopBatch             = 32
	// imLoopDeadline bounds one recovery: instance manager back, volume
	// attached and healthy again.
	imLoopDeadline = 60 * time.Second
	// seedMaxFlaps is how many state changes one resource may make while
	// a volume recovers from one fault. A clean recovery takes a handful
	// (attached → attaching → attached, replica running → stopped →
	// running); a replica that fails at every start makes far more.
	seedMaxFlaps = 12
)

func runIMRestartLoop(ctx context.Context, s *Spec) {
	c := s.Client()
	n := s.Env.cfg.iterations(imLoopDefaultIterations)
	name := fmt.Sprintf("imloop-%d", s.Seed%1_000_000)

	s.Step("wait for 1 node to be up in the manager")
	s.RequireNodes(ctx, 1)

	s.Step(fmt.Sprintf("create volume %s (%d MiB, 1 replica)", name, imLoopSize>>20))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: imLoopSize, NumberOfReplicas: 1, Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	seedDeleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)
	reps, err := c.ListReplicas(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	Expect(reps).To(HaveLen(1), "replicas of a 1-replica volume")
	node := reps[0].Spec.Node

	// The engine runs where the replica is, so deleting that node's
	// instance manager takes both down, as in the original reproduction.
	s.Step("attach to " + node + ", the replica's node")
	_, err = c.AttachVolume(ctx, name, node)
	Expect(err).NotTo(HaveOccurred())
	vol := s.WaitVolumeState(ctx, name, api.VolumeAttached, 2*time.Minute)

	s.Step(fmt.Sprintf("write %d blocks and flush", imLoopFirstWrites))
	gen, err := workload.New(workload.Config{
		Volume: name, BlockSize: 4096, Pattern: workload.Random, Concurrency: 4,
		Count: imLoopFirstWrites, Seed: uint64(s.Seed), Recorder: s.Timeline,
	})
	Expect(err).NotTo(HaveOccurred())
	dev := seedDial(ctx, s, vol.Status.Endpoint, imLoopDeadline)
	digest := seedWriteFlushDigest(ctx, s, gen, dev)

	var recoveries []time.Duration
	for i := range n {
		s.Step(fmt.Sprintf("iteration %d/%d: delete the instance manager of %s", i+1, n, node))
		Expect(dev.Close()).To(Succeed())
		Expect(s.Faults.Wait(ctx, 0, 250*time.Millisecond)).To(Succeed())
		since := time.Now()
		fault := faults.InstanceManagerDelete(s.Env.Cluster, node)
		Expect(s.Faults.Inject(ctx, fault)).To(Succeed())
		hctx, cancel := context.WithTimeout(ctx, imLoopDeadline)
		err := s.Faults.Heal(hctx, fault)
		cancel()
		Expect(err).NotTo(HaveOccurred(), "instance manager of %s did not come back", node)

		vol := seedAwaitVolume(ctx, s, name, since, imLoopDeadline-time.Since(since), volumeWant{
			State: api.VolumeAttached, Robustness: api.RobustnessHealthy, Outage: true})
		took := time.Since(since)
		recoveries = append(recoveries, took)
		s.Env.progressf("     %s: iteration %d/%d recovered in %v", s.Name, i+1, n, took.Round(time.Millisecond))

		dev = seedDial(ctx, s, vol.Status.Endpoint, imLoopDeadline)
		seedCheckQuiet(s, history.Checker{}.Check(ctx, gen.History(), dev))
		seedCheckQuiet(s, checksum.Checker{}.Equal(digest, seedDigest(ctx, s, dev)))
		if i+1 < n {
			digest = seedWriteFlushDigest(ctx, s, gen, dev)
		}
	}

	s.Step("final checks")
	s.Check(recoverySummary(recoveries, n, imLoopDeadline))
	s.Check(history.Checker{}.Check(ctx, gen.History(), dev))
	s.Check(checksum.Checker{}.Stable(ctx, dev, 2))
	Expect(dev.Close()).To(Succeed())
}

// recoverySummary is the loop's convergence verdict: every iteration
// recovered within the deadline (a late one has failed the spec already).
func recoverySummary(took []time.Duration, want int, deadline time.Duration) checkers.Verdict {
	v := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now()}
	if len(took) < want {
		v.Outcome = checkers.Fail
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	var total time.Duration
	for _, d := range took {
		total += d
	}
	if len(sorted) == 0 {
		v.Summary = fmt.Sprintf("0/%d recoveries", want)
		return v
	}
	v.Summary = fmt.Sprintf("%d/%d recoveries within %v: median %v, max %v, total %v", len(took), want, deadline,
		sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond), total.Round(time.Millisecond))
	for i, d := range took {
		v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("iteration %d", i+1), Actual: d.Round(time.Millisecond).String()})
	}
	return v
}

// seedWriteFlushDigest writes one batch of blocks, flushes, and returns
// the whole-volume digest the next check must find again.
func seedWriteFlushDigest(ctx context.Context, s *Spec, gen *workload.Generator, dev *nbd.Client) string {
	_, err := gen.Run(ctx, dev)
	Expect(err).NotTo(HaveOccurred())
	Expect(gen.Flush(ctx, dev)).To(Succeed(), "flush")
	c := gen.History().Counts()
	Expect(c.Failed+c.Unknown).To(BeZero(), "writes failed on a healthy volume: %+v", c)
	return seedDigest(ctx, s, dev)
}

// seedDigest digests the whole device; a read error fails the spec
// through the checksum checker (as Unknown), with the error as evidence.
func seedDigest(ctx context.Context, s *Spec, dev checkers.Device) string {
	d, err := checksum.Digest(ctx, dev)
	if err != nil {
		s.Check(checkers.Verdict{Checker: "checksum-equal", Outcome: checkers.Unknown, Summary: "cannot read the volume: " + err.Error()})
	}
	return d
}
