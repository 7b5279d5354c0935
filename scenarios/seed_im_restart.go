package scenarios

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/google/go-cmp/cmp"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/state"
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
	// seedFlapWindow is the window seedMaxFlaps counts in.
	seedFlapWindow = 30 * time.Second
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
	deleteVolumeOnCleanup(s, name)
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

	// Two workloads on the two halves of the volume: one fill before the
	// loop, and a batch after every recovery that overwrites the same
	// blocks with newer writes, so a replica that came back stale shows
	// up as lost writes.
	s.Step(fmt.Sprintf("write %d blocks and flush", imLoopFirstWrites))
	fill := seedWorkload(s, name, 0, imLoopSize/2, imLoopFirstWrites, 1)
	batch := seedWorkload(s, name, imLoopSize/2, imLoopSize/2, imLoopBatch, 2)
	dev := seedDial(ctx, s, vol.Status.Endpoint, imLoopDeadline)
	seedWriteFlush(ctx, fill, dev)
	digest := seedWriteFlushDigest(ctx, s, batch, dev)

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

		vol := imAwaitVolume(ctx, s, name, since, imLoopDeadline-time.Since(since), 0, imWant{
			State: api.VolumeAttached, Robustness: api.RobustnessHealthy, Outage: true, Extra: true}, nil)
		took := time.Since(since)
		recoveries = append(recoveries, took)
		s.Env.progressf("     %s: iteration %d/%d recovered in %v", s.Name, i+1, n, took.Round(time.Millisecond))

		seedCheckQuiet(s, imCheckRPC(ctx, s, true))
		dev = seedDial(ctx, s, vol.Status.Endpoint, imLoopDeadline)
		seedCheckQuiet(s, history.Checker{}.Check(ctx, fill.History(), dev))
		seedCheckQuiet(s, history.Checker{}.Check(ctx, batch.History(), dev))
		seedCheckQuiet(s, checksum.Checker{}.Equal(digest, seedDigest(ctx, s, dev)))
		if i+1 < n {
			digest = seedWriteFlushDigest(ctx, s, batch, dev)
		}
	}

	s.Step("final checks")
	s.Check(recoverySummary(recoveries, n, imLoopDeadline))
	s.Check(imCheckRPC(ctx, s, true))
	s.Check(history.Checker{}.Check(ctx, fill.History(), dev))
	s.Check(history.Checker{}.Check(ctx, batch.History(), dev))
	s.Check(checksum.Checker{}.Stable(ctx, dev, 2))
	s.Check(s.NoOrphans(ctx))
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

// seedWorkload returns a random-offset workload of count 4 KiB writes per
// Run over [off, off+length) of the volume; writer tells its blocks apart
// from other workloads' on the same volume.
func seedWorkload(s *Spec, volume string, off, length int64, count int, writer uint32) *workload.Generator {
	return seedWorkloadPattern(s, volume, off, length, count, writer, workload.Random)
}

// seedWorkloadSeq is seedWorkload with sequential offsets: count writes
// cover the region block after block.
func seedWorkloadSeq(s *Spec, volume string, off, length int64, count int, writer uint32) *workload.Generator {
	return seedWorkloadPattern(s, volume, off, length, count, writer, workload.Sequential)
}

func seedWorkloadPattern(s *Spec, volume string, off, length int64, count int, writer uint32, pattern workload.Pattern) *workload.Generator {
	gen, err := workload.New(workload.Config{
		Volume: volume, BlockSize: 4096, Offset: off, Length: length, Pattern: pattern,
		Concurrency: 4, Count: count, Seed: uint64(s.Seed) + uint64(writer), Writer: writer,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	return gen
}

// seedLogger sends workload logs to the spec's output, not the terminal.
func seedLogger() *slog.Logger { return slog.New(slog.NewTextHandler(GinkgoWriter, nil)) }

// seedWriteFlush runs one batch of writes and flushes; on a healthy volume
// every write must succeed.
func seedWriteFlush(ctx context.Context, gen *workload.Generator, dev *nbd.Client) {
	_, err := gen.Run(ctx, dev)
	Expect(err).NotTo(HaveOccurred())
	Expect(gen.Flush(ctx, dev)).To(Succeed(), "flush")
	c := gen.History().Counts()
	Expect(c.Failed+c.Unknown).To(BeZero(), "writes failed on a healthy volume: %+v", c)
}

// seedWriteFlushDigest writes and flushes one batch and returns the
// whole-volume digest the next check must find again.
func seedWriteFlushDigest(ctx context.Context, s *Spec, gen *workload.Generator, dev *nbd.Client) string {
	seedWriteFlush(ctx, gen, dev)
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

// The helpers below are shared by the seed scenarios (seed_*.go).

// volumeWant is what a recovering volume must show.
type volumeWant struct {
	State      string
	Robustness string
	// Outage is true once the change stream showed the volume leave
	// attached+healthy after the fault: a status left over from before
	// the fault does not count as recovered.
	Outage bool
}

// seedAwaitVolume waits until the volume shows want, failing the spec
// through the state checkers: state-crashloop as soon as a resource flaps,
// state-converge at the deadline. The pass verdict goes to the timeline.
func seedAwaitVolume(ctx context.Context, s *Spec, name string, since time.Time, deadline time.Duration, want volumeWant) api.Volume {
	c := s.Client()
	var last api.Volume
	v := seedAwait(ctx, s, fmt.Sprintf("volume %s %s/%s", name, want.State, want.Robustness), since, deadline,
		func(ctx context.Context) (volumeWant, error) {
			vol, err := c.GetVolume(ctx, name)
			if err != nil {
				return volumeWant{}, err
			}
			last = vol
			return volumeWant{State: vol.Status.State, Robustness: vol.Status.Robustness,
				Outage: want.Outage && sawOutage(s.States.Samples(), name, since)}, nil
		}, want)
	seedCheckQuiet(s, v)
	return last
}

// sawOutage reports whether the volume was seen not attached+healthy at or
// after since.
func sawOutage(samples []state.Sample, volume string, since time.Time) bool {
	for _, x := range samples {
		if x.Kind == state.KindVolume && x.Name == volume && !x.Time.Before(since) &&
			(x.State != api.VolumeAttached || x.Robustness != api.RobustnessHealthy) {
			return true
		}
	}
	return false
}

// seedAwait polls observe until it returns want (go-cmp equality). Between
// polls it runs the crash-loop check over the states seen since since and
// fails the spec at once when a resource flaps; at the deadline it fails
// the spec with a state-converge verdict holding the expected-vs-actual
// diff. It returns the pass verdict.
func seedAwait[T any](ctx context.Context, s *Spec, what string, since time.Time, deadline time.Duration, observe func(context.Context) (T, error), want T) checkers.Verdict {
	return seedAwaitHeld(ctx, s, what, since, deadline, 0, observe, want)
}

// seedAwaitHeld is seedAwait where want must hold for hold without a
// break: a status the control plane has not yet revised after a fault
// does not count as converged.
func seedAwaitHeld[T any](ctx context.Context, s *Spec, what string, since time.Time, deadline, hold time.Duration, observe func(context.Context) (T, error), want T) checkers.Verdict {
	start := time.Now()
	var heldSince time.Time
	dctx, cancel := context.WithTimeout(ctx, max(deadline, time.Second))
	defer cancel()
	tick := time.NewTicker(state.DefaultInterval)
	defer tick.Stop()
	var (
		last    T
		have    bool
		lastErr error
	)
	for {
		if v := state.CrashLoop(samplesSince(s.States.Samples(), since), seedFlapWindow, seedMaxFlaps); !v.Passed() {
			s.Check(v)
		}
		got, err := observe(dctx)
		if err != nil {
			lastErr = err
		} else if last, have = got, true; !cmp.Equal(got, want) {
			heldSince = time.Time{}
		} else if heldSince.IsZero() {
			heldSince = time.Now()
		}
		if !heldSince.IsZero() && time.Since(heldSince) >= hold {
			return checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
				Summary: fmt.Sprintf("%s reached after %v", what, heldSince.Sub(start).Round(time.Millisecond))}
		}
		select {
		case <-tick.C:
			continue
		case <-dctx.Done():
		}
		if ctx.Err() != nil {
			Expect(ctx.Err()).NotTo(HaveOccurred(), "waiting for %s", what)
		}
		v := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
			Summary: fmt.Sprintf("%s not reached within %v", what, deadline)}
		if lastErr != nil {
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "last error", Detail: lastErr.Error()})
		}
		if have {
			v.Diff = cmp.Diff(want, last)
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "last actual", Expected: fmt.Sprintf("%+v", want), Actual: fmt.Sprintf("%+v", last)})
		}
		s.Check(v)
		return v
	}
}

func samplesSince(samples []state.Sample, since time.Time) []state.Sample {
	return slices.DeleteFunc(samples, func(x state.Sample) bool { return x.Time.Before(since) })
}

// seedCheckQuiet fails the spec on a verdict that did not pass, like
// Spec.Check, but records a pass on the timeline only: a loop of fifty
// iterations would otherwise bury the report in passing verdicts.
func seedCheckQuiet(s *Spec, v checkers.Verdict) {
	if !v.Passed() {
		s.Check(v)
		return
	}
	checkers.Record(s.Timeline, v)
}

// seedDial connects to a volume's frontend, retrying until deadline: the
// export may come up a moment after the volume reports attached. A volume
// that says attached but cannot be reached fails state-converge.
func seedDial(ctx context.Context, s *Spec, endpoint string, deadline time.Duration) *nbd.Client {
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	tick := time.NewTicker(state.DefaultInterval)
	defer tick.Stop()
	for {
		dev, err := dialEndpoint(dctx, endpoint)
		if err == nil {
			return dev
		}
		select {
		case <-tick.C:
			continue
		case <-dctx.Done():
		}
		Expect(ctx.Err()).NotTo(HaveOccurred(), "connecting to %s", endpoint)
		s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
			Summary: fmt.Sprintf("volume reports attached but its frontend %s did not answer within %v: %v", endpoint, deadline, err)})
		return nil
	}
}
