package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// rebuildChurn checks that rebuilds give their space back. Every rebuild
// takes a system snapshot of the source replica; one that is never purged
// freezes the volume's data, so the next full rewrite allocates every
// cluster again and the disk fills a volume's worth per rebuild, while the
// volume still says healthy.
func rebuildChurn() scenario {
	return scenario{
		Name:   "rebuild-churn",
		Labels: []string{"integrity", "v2"},
		Description: "3-replica volume of a quarter of the smallest disk (at most 128 MiB); N rounds (default 4) of a full rewrite, " +
			"a replica node stopped and started, a rebuild; space stays bounded, nothing is orphaned, replicas equal, writes never fail on a healthy volume",
		Timeout: 12 * time.Minute,
		Body:    runRebuildChurn,
	}
}

const (
	churnDefaultRounds = 4
	churnMaxSize       = 128 << 20
	churnMinSize       = 16 << 20
	churnBlock         = 64 << 10
	// The stopped node stays down for a seeded time in this range.
	churnMinDown = 2 * time.Second
	churnMaxDown = 6 * time.Second
	// churnDeadline bounds the rebuild after the node is back.
	churnDeadline = 3 * time.Minute
)

func runRebuildChurn(ctx context.Context, s *Spec) {
	n := s.Env.cfg.iterations(churnDefaultRounds)
	name := fmt.Sprintf("churn-%d", s.Seed%1_000_000)
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	size := churnSize(ctx, s)
	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	s.Step(fmt.Sprintf("create volume %s (%d MiB, 3 replicas) and attach it to %s", name, size>>20, node))
	_, dev := createAttached(ctx, s, api.VolumeCreateRequest{Name: name, Size: size, NumberOfReplicas: 3}, node)
	defer func() { dev.Close() }()

	// Sequential over the whole volume: every Run rewrites every block.
	gen, err := workload.New(workload.Config{
		Volume: name, BlockSize: churnBlock, Pattern: workload.Sequential, Concurrency: 4,
		Count: int(size / churnBlock), Seed: uint64(s.Seed), Writer: 1,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	hist := history.Checker{Recorder: s.Timeline}
	integ := s.Integrity()

	for i := range n {
		s.Step(fmt.Sprintf("round %d/%d: rewrite all %d MiB in %d KiB blocks and flush", i+1, n, size>>20, churnBlock>>10))
		before := len(gen.History().Ops())
		_, err := gen.Run(ctx, dev)
		Expect(err).NotTo(HaveOccurred())
		flushErr := gen.Flush(ctx, dev)
		s.Check(writableVerdict(ctx, s, name, gen.History(), before))
		Expect(flushErr).NotTo(HaveOccurred(), "flush after the rewrite")

		engineNode := engineOf(ctx, s, name).Spec.Node
		reps := replicasOffNode(ctx, s, name, engineNode)
		victim := reps[s.Faults.Intn(len(reps))]
		down := s.Faults.Jitter(churnMinDown, churnMaxDown)
		s.Step(fmt.Sprintf("round %d/%d: stop %s (replica %s; the engine is on %s) for %v", i+1, n, victim.Spec.Node, victim.Name, engineNode, down))
		since := time.Now()
		stop := faults.NodeStop(s.Env.Cluster, victim.Spec.Node)
		Expect(s.Faults.Inject(ctx, stop)).To(Succeed())
		Expect(seedSleep(ctx, down)).To(Succeed())
		hctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = s.Faults.Heal(hctx, stop)
		cancel()
		Expect(err).NotTo(HaveOccurred(), "start %s again", victim.Spec.Node)

		s.Step(fmt.Sprintf("round %d/%d: wait for a rebuild and attached/healthy, all replicas RW", i+1, n))
		took := awaitRecovery(ctx, s, fmt.Sprintf("volume %s rebuilt after %s came back", name, victim.Spec.Node), map[string]int{name: 3},
			recovery{Since: since, Deadline: churnDeadline, Outage: true, Rebuilt: true})
		s.Env.progressf("     %s: round %d/%d: rebuilt and healthy %v after the stop", s.Name, i+1, n, took.Round(time.Millisecond))

		s.Step(fmt.Sprintf("round %d/%d: space bounded, replicas equal, history, no orphans", i+1, n))
		s.CheckAll(
			s.SpaceBounded(ctx, name),
			integ.ReplicasEqual(ctx, name),
			hist.Check(ctx, gen.History(), dev),
			s.NoOrphans(ctx),
		)
	}
}

// churnSize is a quarter of the smallest disk the manager reports, at
// most churnMaxSize, in whole MiB: small enough that leaked rebuild
// snapshots fill the disk within a few rounds.
func churnSize(ctx context.Context, s *Spec) int64 {
	nodes, err := s.Client().ListNodes(ctx)
	Expect(err).NotTo(HaveOccurred())
	smallest := int64(0)
	for _, n := range nodes {
		for _, d := range n.Status.Disks {
			if smallest == 0 || d.TotalBytes < smallest {
				smallest = d.TotalBytes
			}
		}
	}
	size := min(smallest/4, churnMaxSize) / (1 << 20) * (1 << 20)
	Expect(size).To(BeNumerically(">=", churnMinSize), "the smallest disk (%d bytes) is too small for rebuild-churn", smallest)
	return size
}
