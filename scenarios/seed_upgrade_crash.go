package scenarios

import (
	"context"
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

// upgradeCrash is seed 002 (Longhorn #10751): an engine that crashes in
// the middle of a live upgrade must leave a volume that comes back with
// every acknowledged write. The original bug let cleanup after the crash
// throw away what the restarted workload relied on, and it found an empty
// volume.
func upgradeCrash() scenario {
	return scenario{
		Name:        "engine-crash-during-live-upgrade",
		Labels:      []string{"seed", "v2", "upgrade"},
		Description: "3-replica volume; writes, a live upgrade request, then an engine crash at a seeded moment before, during or after the switch (N rounds, default 3); the volume recovers healthy on a known image with every acknowledged write",
		Timeout:     6 * time.Minute,
		Body:        runUpgradeCrash,
	}
}

const (
	upgradeDefaultRounds = 3
	upgradeSize          = 16 << 20
	upgradeFill          = 512
	// upgradeDeadline bounds one recovery after the crash.
	upgradeDeadline = 90 * time.Second
	// upgradeHold is how long attached+healthy on the requested image must
	// hold before it counts: longer than the manager takes to notice a
	// dead engine.
	upgradeHold = 3 * time.Second
)

// crashPhases are the windows after the upgrade request in which a round
// crashes the engine: at once (before the new process serves), while the
// switch is under way, and around or after its end. Round i uses window
// i mod 3; the moment inside it comes from the seed.
var crashPhases = [...]struct {
	name   string
	lo, hi time.Duration
}{
	{"before", 0, 20 * time.Millisecond},
	{"during", 20 * time.Millisecond, 400 * time.Millisecond},
	{"after", 400 * time.Millisecond, 1500 * time.Millisecond},
}

func runUpgradeCrash(ctx context.Context, s *Spec) {
	c := s.Client()
	n := s.Env.cfg.iterations(upgradeDefaultRounds)
	rounds := make([]string, n)
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

	s.Step(fmt.Sprintf("create volume %s (3 replicas, image %s) and attach", name, images[0]))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: upgradeSize, NumberOfReplicas: 3, EngineImage: images[0], Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	seedDeleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)
	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	_, err = c.AttachVolume(ctx, name, node)
	Expect(err).NotTo(HaveOccurred())
	vol := seedAwaitVolume(ctx, s, name, time.Now(), 2*time.Minute, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy})
	dev := seedDial(ctx, s, vol.Status.Endpoint, time.Minute)

	s.Step(fmt.Sprintf("write %d blocks and flush", upgradeFill))
	fill := seedWorkload(s, name, 0, upgradeSize/2, upgradeFill, 1)
	seedWriteFlush(ctx, fill, dev)
	// The background writer runs through each upgrade request.
	bg, err := workload.New(workload.Config{
		Volume: name, BlockSize: 4096, Offset: upgradeSize / 2, Length: upgradeSize / 2, Pattern: workload.Random,
		Concurrency: 2, Rate: 400, FlushEvery: 16, Seed: uint64(s.Seed) + 2, Writer: 2, ErrorBackoff: 20 * time.Millisecond,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	// An engine crash kills no node: every write the engine acknowledged
	// reached every replica's node and must be there afterwards.
	strict := history.Checker{AckedIsDurable: true}

	for i := range n {
		from, to := images[0], images[1]
		if seedCurrentImage(ctx, s, name) == images[1] {
			from, to = to, from
		}
		phase := crashPhases[i%len(crashPhases)]
		engines, err := c.ListEngines(ctx, name)
		Expect(err).NotTo(HaveOccurred())
		Expect(engines).To(HaveLen(1), "engines of attached volume %s", name)
		engine := engines[0].Name

		s.Step(fmt.Sprintf("round %d/%d: writes, live upgrade %s → %s, crash engine %s %s the switch", i+1, n, from, to, engine, phase.name))
		stop := seedBackground(ctx, bg, dev)
		Expect(s.Faults.Wait(ctx, 100*time.Millisecond, 200*time.Millisecond)).To(Succeed())
		_, err = c.UpgradeVolume(ctx, name, to)
		Expect(err).NotTo(HaveOccurred(), "request live upgrade to %s", to)
		requested := time.Now()
		delay := s.Faults.Jitter(phase.lo, phase.hi)
		// The writer runs through the upgrade request and the crash:
		// writes in flight when the engine dies may reach some replicas
		// and not others, and the engine that comes back must make them
		// agree (replicas-equal below) and keep every acknowledged write.
		Expect(seedSleep(ctx, time.Until(requested.Add(delay)))).To(Succeed())
		since := time.Now()
		at := seedCurrentImage(ctx, s, name)
		crash := faults.EngineCrash(s.Env.Cluster, engine)
		if err := s.Faults.Inject(ctx, crash); err != nil {
			// The engine was between processes (the old one gone, the
			// new one not yet found): the round still checks recovery.
			GinkgoWriter.Printf("round %d: %v\n", i+1, err)
		}
		Expect(s.Faults.Heal(ctx, crash)).To(Succeed())
		s.Env.progressf("     %s: crashed %v after the request, volume on image %q", s.Name, since.Sub(requested).Round(time.Millisecond), at)
		stop()
		Expect(dev.Close()).To(Succeed())

		s.Step(fmt.Sprintf("round %d/%d: wait for attached+healthy on a known image", i+1, n))
		var last api.Volume
		seedCheckQuiet(s, seedAwaitHeld(ctx, s, fmt.Sprintf("volume %s attached/healthy on %s or %s", name, to, from), since, upgradeDeadline, upgradeHold,
			func(ctx context.Context) (upgradeView, error) {
				v, err := c.GetVolume(ctx, name)
				last = v
				return upgradeView{State: v.Status.State, Robustness: v.Status.Robustness,
					Settled: v.Spec.EngineImage == v.Status.CurrentImage,
					Known:   v.Status.CurrentImage == from || v.Status.CurrentImage == to}, err
			}, upgradeView{State: api.VolumeAttached, Robustness: api.RobustnessHealthy, Settled: true, Known: true}))
		outcome := "upgrade completed"
		if last.Status.CurrentImage != to {
			outcome = "upgrade abandoned"
		}
		s.Env.progressf("     %s: round %d recovered in %v on %s (%s)", s.Name, i+1, time.Since(since).Round(time.Millisecond), last.Status.CurrentImage, outcome)
		rounds[i] = outcome

		dev = seedDial(ctx, s, last.Status.Endpoint, time.Minute)
		seedCheckQuiet(s, strict.Check(ctx, fill.History(), dev))
		seedCheckQuiet(s, strict.Check(ctx, bg.History(), dev))
		seedCheckQuiet(s, integrity.Checker{API: c}.ReplicasEqual(ctx, name))
	}

	s.Step("final checks: history, digest stable, replicas equal, no orphans")
	s.Check(strict.Check(ctx, fill.History(), dev))
	s.Check(strict.Check(ctx, bg.History(), dev))
	s.Check(checksum.Checker{}.Stable(ctx, dev, 3))
	s.Check(s.Integrity().ReplicasEqual(ctx, name))
	s.Check(s.NoOrphans(ctx))
	v := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
		Summary: fmt.Sprintf("%d rounds of live upgrade + engine crash recovered healthy on a known image", n)}
	for i, o := range rounds {
		v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("round %d (%s)", i+1, crashPhases[i%len(crashPhases)].name), Actual: o})
	}
	s.Check(v)
	Expect(dev.Close()).To(Succeed())
}

// upgradeView is what the post-crash wait compares.
type upgradeView struct {
	State, Robustness string
	// Settled: the image running is the image asked for (the upgrade
	// finished, offline if need be, or was abandoned and said so).
	Settled bool
	// Known: the image running is one of the two.
	Known bool
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
