package scenarios

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// upgradeCrash is seed 002 (Longhorn #10751) by its real mechanism: an
// engine that crashes in the middle of a live upgrade makes the volume ask
// for a remount, which replaces the workload's consumer by a new one on the
// same node. The bug was the cleanup for the force-deleted old consumer:
// it took the attachment the new one relied on, and the workload found its
// volume gone. The upgrade itself must still complete, as in Longhorn's
// test_engine_crash_during_live_upgrade.
func upgradeCrash() scenario {
	return scenario{
		Name:   "engine-crash-during-live-upgrade",
		Labels: []string{"seed", "upgrade", "engine-crash", "attachment"},
		Description: "3-replica volume used by a workload's consumer; each round (default 3) a live upgrade and an engine crash timed by the upgrade's progress (new engine process started, old one serving); " +
			"the remount replaces the consumer on the same node, which writes and reads (30 s in the last round) with the volume attached throughout; the upgrade completes (old image unreferenced); every acknowledged write durable",
		Timeout:   8 * time.Minute,
		timeoutOf: upgradeCrashTimeout,
		Body:      runUpgradeCrash,
	}
}

// upgradeCrashTimeout gives each round 90 s beyond two minutes for the
// setup: on kind a round took 40 to 65 s (10 rounds in 8 min 13 s and in
// 11 min 27 s), most of it the old consumer's pod going away, so the 10
// rounds of make kind-smoke need more than the 8 minutes that are plenty
// for the default 3.
func upgradeCrashTimeout(c *Config) time.Duration {
	return max(8*time.Minute, 2*time.Minute+time.Duration(c.iterations(upgradeDefaultRounds))*90*time.Second)
}

const (
	upgradeDefaultRounds = 3
	upgradeSize          = 16 << 20
	upgradeFill          = 512
	// upgradeDeadline bounds one recovery after the crash.
	upgradeDeadline = 90 * time.Second
	// upgradeHold is how long attached+healthy on the new image must hold
	// before it counts: longer than the manager takes to notice a dead
	// engine.
	upgradeHold = 3 * time.Second
	// upgradeWindow bounds the watch for the upgrade's window: starting
	// the new engine process takes tens of milliseconds.
	upgradeWindow = 5 * time.Second
	// upgradeGrace is the consumers' termination grace period: the old
	// consumer passes through grace 0 this long after the remount, while
	// its replacement works.
	upgradeGrace = 2 * time.Second
	// consumerHold is how long the replacement does flushed writes and
	// reads in the last round (Longhorn's test keeps its new pod for the
	// md5 check); consumerShortHold in the others, still past the old
	// consumer's grace period.
	consumerHold      = 30 * time.Second
	consumerShortHold = 5 * time.Second
)

func runUpgradeCrash(ctx context.Context, s *Spec) {
	c := s.Client()
	n := s.Env.cfg.iterations(upgradeDefaultRounds)
	suffix := s.Seed % 1_000_000
	name := fmt.Sprintf("upgcrash-%d", suffix)

	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	images := [2]string{fmt.Sprintf("eng-a-%d", suffix), fmt.Sprintf("eng-b-%d", suffix)}
	s.Step(fmt.Sprintf("deploy engine images %s and %s (two copies of the refengine binary) and register them", images[0], images[1]))
	for i, img := range images {
		path := installEngineImage(ctx, s, img)
		_, err := c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: img, Version: fmt.Sprintf("seed-%c", 'a'+i), BinaryPath: path})
		Expect(err).NotTo(HaveOccurred(), "create engine image %s", img)
		DeferCleanup(func(ctx SpecContext) { c.DeleteEngineImage(ctx, img) }, NodeTimeout(time.Minute))
	}

	s.Step(fmt.Sprintf("create volume %s (3 replicas, image %s)", name, images[0]))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: upgradeSize, NumberOfReplicas: 3, EngineImage: images[0], Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)

	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	workloadName := name + "-app"
	s.Step(fmt.Sprintf("consumer %s-1 of workload %s uses the volume on %s", workloadName, workloadName, node))
	cur, err := c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: workloadName + "-1", Volume: name, Node: node,
		Workload: workloadName, TerminationGracePeriod: api.Duration(upgradeGrace)})
	Expect(err).NotTo(HaveOccurred())
	deleteConsumersOnCleanup(s, name)
	cur = awaitConsumerRunning(ctx, s, cur.Name, 2*time.Minute)
	dev := seedDial(ctx, s, cur.Status.Endpoint, time.Minute)

	s.Step(fmt.Sprintf("write %d blocks and flush", upgradeFill))
	fill := seedWorkload(s, name, 0, upgradeSize/2, upgradeFill, 1)
	seedWriteFlush(ctx, fill, dev)
	// The background writer runs through each upgrade request and crash.
	bg, err := workload.New(workload.Config{
		Volume: name, BlockSize: 4096, Offset: upgradeSize / 2, Length: upgradeSize / 4, Pattern: workload.Random,
		Concurrency: 2, Rate: 400, FlushEvery: 16, Seed: uint64(s.Seed) + 2, Writer: 2, ErrorBackoff: 20 * time.Millisecond,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	// Each replacement consumer writes through this one in its hold.
	held, err := workload.New(workload.Config{
		Volume: name, BlockSize: 4096, Offset: upgradeSize * 3 / 4, Length: upgradeSize / 4, Pattern: workload.Random,
		Concurrency: 2, Rate: 200, FlushEvery: 8, Seed: uint64(s.Seed) + 3, Writer: 3, ErrorBackoff: 20 * time.Millisecond,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	gens := []*workload.Generator{fill, bg, held}
	// An engine crash kills no node: every write the engine acknowledged
	// reached every replica's node and must be there afterwards.
	strict := history.Checker{AckedIsDurable: true}

	var rounds []upgradeRound
	for i := range n {
		from, to := images[0], images[1]
		if seedCurrentImage(ctx, s, name) == images[1] {
			from, to = to, from
		}
		engines, err := c.ListEngines(ctx, name)
		Expect(err).NotTo(HaveOccurred())
		Expect(engines).To(HaveLen(1), "engines of attached volume %s", name)
		engine := engines[0]

		s.Step(fmt.Sprintf("round %d/%d: writes, live upgrade %s → %s, crash engine %s in the upgrade window", i+1, n, from, to, engine.Name))
		r := upgradeRound{from: from, to: to, old: cur.Name}
		crash := faults.EngineCrashDuringUpgrade(s.Env.Cluster, engine.Name, engine.Spec.Node, upgradeWindow)
		if err := crash.Arm(ctx); errors.Is(err, faults.ErrUpgradeCrashUnsupported) {
			Skip(err.Error())
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		stop := seedBackground(ctx, bg, dev)
		Expect(s.Faults.Wait(ctx, 100*time.Millisecond, 200*time.Millisecond)).To(Succeed())
		requested := time.Now()
		_, err = c.UpgradeVolume(ctx, name, to)
		Expect(err).NotTo(HaveOccurred(), "request live upgrade to %s", to)
		Expect(s.Faults.Inject(ctx, crash)).To(Succeed())
		Expect(s.Faults.Heal(ctx, crash)).To(Succeed())
		k, _ := crash.Kill()
		r.inWindow, r.crashAfter = k.InWindow, time.Since(requested)
		stop()
		Expect(dev.Close()).To(Succeed())
		if !awaitRemount(ctx, s, name, requested, 15*time.Second) {
			// The watch killed an old process the frontend had already
			// left: crash the serving engine now.
			r.inWindow = false
			plain := faults.EngineCrash(s.Env.Cluster, engine.Name)
			Expect(s.Faults.Inject(ctx, plain)).To(Succeed())
			Expect(s.Faults.Heal(ctx, plain)).To(Succeed())
			Expect(awaitRemount(ctx, s, name, requested, 15*time.Second)).To(BeTrue(), "volume %s asked for no remount after its engine was killed", name)
		}
		s.Env.progressf("     %s: round %d crashed pid %d %v after the request (in the upgrade window: %v)", s.Name, i+1, k.PID, r.crashAfter.Round(time.Millisecond), r.inWindow)

		s.Step(fmt.Sprintf("round %d/%d: the remount replaces %s on %s; the upgrade completes", i+1, n, cur.Name, cur.Spec.Node))
		next := awaitConsumerReplacement(ctx, s, cur, upgradeDeadline)
		r.next = next.Name
		since := time.Now()
		seedCheckQuiet(s, awaitUpgraded(ctx, s, name, next.Name, from, to, since))
		r.recovered = time.Since(requested)

		devB := seedDial(ctx, s, next.Status.Endpoint, time.Minute)
		hold := consumerShortHold
		if i == n-1 {
			hold = consumerHold
		}
		s.Step(fmt.Sprintf("round %d/%d: %s does flushed writes and reads for %v; the volume must stay attached while it exists", i+1, n, next.Name, hold))
		s.Check(holdConsumer(ctx, s, name, cur.Name, next, devB, held, hold))
		for _, g := range gens {
			seedCheckQuiet(s, strict.Check(ctx, g.History(), devB))
		}
		seedCheckQuiet(s, integrity.Checker{API: c, Credential: cluster.CredentialOf(s.Env.Cluster)}.ReplicasEqual(ctx, name))
		s.Env.progressf("     %s: round %d: %s replaced %s, upgrade to %s completed %v after the request", s.Name, i+1, next.Name, cur.Name, to, r.recovered.Round(time.Millisecond))
		rounds = append(rounds, r)
		cur, dev = next, devB
	}

	s.Step("final checks: history, digest stable, replicas equal, no orphans")
	for _, g := range gens {
		s.Check(strict.Check(ctx, g.History(), dev))
	}
	s.Check(checksum.Checker{}.Stable(ctx, dev, 3))
	s.Check(s.Integrity().ReplicasEqual(ctx, name))
	s.Check(s.NoOrphans(ctx))
	s.Check(upgradeRoundsVerdict(rounds))
	Expect(dev.Close()).To(Succeed())
}

// upgradeRound is what one round did, for the report.
type upgradeRound struct {
	from, to   string
	old, next  string
	inWindow   bool
	crashAfter time.Duration
	recovered  time.Duration
}

// upgradeRoundsVerdict says how many rounds crashed the engine inside the
// upgrade's window and that every upgrade completed.
func upgradeRoundsVerdict(rounds []upgradeRound) checkers.Verdict {
	in := 0
	v := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now()}
	for i, r := range rounds {
		if r.inWindow {
			in++
		}
		v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("round %d", i+1),
			Expected: fmt.Sprintf("upgrade %s → %s completes, consumer replaced", r.from, r.to),
			Actual: fmt.Sprintf("crash %v after the request (in the upgrade window: %v); %s replaced %s; upgrade completed %v after the request",
				r.crashAfter.Round(time.Millisecond), r.inWindow, r.next, r.old, r.recovered.Round(time.Millisecond))})
	}
	v.Summary = fmt.Sprintf("%d rounds of live upgrade + engine crash: every upgrade completed and every consumer was replaced; %d/%d crashes inside the upgrade window", len(rounds), in, len(rounds))
	return v
}

// currentImage is the image the manager says the volume runs now, for the
// progress line ("" when it cannot tell).
func seedCurrentImage(ctx context.Context, s *Spec, name string) string {
	v, err := s.Client().GetVolume(ctx, name)
	if err != nil {
		return ""
	}
	return v.Status.CurrentImage
}

// seedSleep waits d (nothing when d ≤ 0) or until ctx ends.
func seedSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// seedBackground runs gen against dev until the returned stop is called;
// stop waits for the writes in flight.
func seedBackground(ctx context.Context, gen *workload.Generator, dev *nbd.Client) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer GinkgoRecover()
		gen.Run(ctx, dev)
	}()
	return func() { cancel(); wg.Wait() }
}

// installEngineImage deploys an engine image the cluster's way (cluster.EngineImages) and
// returns the path nodes run it from; on a cluster that cannot (one attached through its
// supervisor), it copies the refengine binary into the spec's temporary directory.
func installEngineImage(ctx context.Context, s *Spec, name string) string {
	if ei, ok := s.Env.Cluster.(cluster.EngineImages); ok {
		path, err := ei.InstallEngineImage(ctx, name)
		Expect(err).NotTo(HaveOccurred(), "deploy engine image %s", name)
		DeferCleanup(func(ctx SpecContext) { ei.RemoveEngineImage(ctx, name) }, NodeTimeout(time.Minute))
		return path
	}
	bin := s.Env.cfg.Refengine
	if bin == "" {
		var err error
		bin, err = local.FindRefengine()
		Expect(err).NotTo(HaveOccurred(), "engine images are copies of the refengine binary")
	}
	path := filepath.Join(GinkgoT().TempDir(), name)
	Expect(local.CopyExecutable(bin, path)).To(Succeed())
	return path
}
