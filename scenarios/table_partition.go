package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/internal/nftpart"
	"github.com/faultline/faultline/workload"
)

// networkDisconnect is row 5 of the seed review's table (longhorn-tests
// network_disconnect.robot, "Disconnect Volume Node Network While Workload
// Heavy Writing"): the node that runs a volume's engine loses its network
// while a workload writes. Cut off from the other nodes, the engine must
// fail their replicas and go on writing to its own; cut off from the
// manager, the control plane must not act on a volume whose engine still
// serves. Either way, once the network is back the replicas must agree:
// two replicas that each took writes the other did not is split brain.
func networkDisconnect() scenario {
	return scenario{
		Name:   "network-disconnect-volume-node",
		Labels: []string{"table", "network-partition"},
		Description: "3-replica volume written without pause on its engine's node; that node partitioned from the other nodes for 20 s (the engine fails their replicas and writes on), " +
			"then from the manager for 20 s; after each heal the volume is healthy again, the replicas are equal (no split brain) and every acknowledged write is there",
		Timeout: 10 * time.Minute,
		Body:    runNetworkDisconnect,
	}
}

const (
	netdisSize = 32 << 20
	// netdisDown is how long a partition lasts (the robot test's first
	// case is 20 s).
	netdisDown = 20 * time.Second
	// netdisDegraded bounds how long the engine takes to fail replicas it
	// cannot reach: the NBD connections' 8 s user timeout, then a flush.
	netdisDegraded = 30 * time.Second
	// netdisDeadline bounds the recovery after a heal (a rebuild of two
	// replicas of 32 MiB).
	netdisDeadline = 3 * time.Minute
	netdisHold     = 3 * time.Second
)

func runNetworkDisconnect(ctx context.Context, s *Spec) {
	c := s.Client()
	name := fmt.Sprintf("netdis-%d", s.Seed%1_000_000)
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)
	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	var others []string
	for _, n := range nodes {
		if n.Name != node {
			others = append(others, n.Name)
		}
	}

	s.Step(fmt.Sprintf("create volume %s (%d MiB, 3 replicas) and attach it to %s", name, netdisSize>>20, node))
	_, dev := createAttached(ctx, s, api.VolumeCreateRequest{Name: name, Size: netdisSize, NumberOfReplicas: 3}, node)
	gen, err := workload.New(workload.Config{
		Volume: name, BlockSize: 4096, Pattern: workload.Random, Concurrency: 2, Rate: 300, FlushEvery: 16,
		Seed: uint64(s.Seed), Writer: 1, ErrorBackoff: 50 * time.Millisecond,
		Classify: workload.UnknownOn(nbd.ErrDisconnected), Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	// A partition kills no process: every write the engine acknowledged
	// reached its replicas' disks (or the replicas were failed first).
	strict := history.Checker{AckedIsDurable: true, Recorder: s.Timeline}
	integ := s.Integrity()

	var parts []cluster.Partition
	for _, o := range others {
		parts = append(parts, cluster.Partition{A: node, B: o})
	}
	s.Step(fmt.Sprintf("partition %s from %v for %v with the writer running; the engine fails the replicas it cannot reach and writes on", node, others, netdisDown))
	dev = netdisRound(ctx, s, name, dev, gen, parts, true)
	s.CheckAll(integ.ReplicasEqual(ctx, name), strict.Check(ctx, gen.History(), dev))

	s.Step(fmt.Sprintf("partition %s from the manager for %v with the writer running", node, netdisDown))
	dev = netdisRound(ctx, s, name, dev, gen, []cluster.Partition{{A: node, B: cluster.ManagerEndpoint}}, false)
	s.CheckAll(
		integ.ReplicasEqual(ctx, name),
		integ.ReadsDeterministic(ctx, dev, integrity.ReadOptions{K: 6, Seed: s.Seed}),
		strict.Check(ctx, gen.History(), dev),
	)
	Expect(dev.Close()).To(Succeed())
	c.DetachVolume(ctx, name)
	s.Step("final checks: no orphans")
	s.Check(s.NoOrphans(ctx))
}

// netdisRound runs the writer through the partitions parts for netdisDown
// and waits for the recovery after the heal; with degrade, the volume must
// be seen degraded while they last and writes must go on being
// acknowledged. It returns a device connected to the volume again.
func netdisRound(ctx context.Context, s *Spec, name string, dev *nbd.Client, gen *workload.Generator, parts []cluster.Partition, degrade bool) *nbd.Client {
	stop := seedBackground(ctx, gen, dev)
	Expect(seedSleep(ctx, time.Second)).To(Succeed())
	since := time.Now()
	var injected []faults.Fault
	for _, p := range parts {
		f := faults.NetworkPartition(s.Env.Cluster, p)
		// No driver support, or no nft or root here: the scenario cannot run.
		if err := s.Faults.Inject(ctx, f); errors.Is(err, faults.ErrPartitionUnsupported) || errors.Is(err, nftpart.ErrUnavailable) {
			stop()
			Skip(err.Error())
		} else {
			Expect(err).NotTo(HaveOccurred(), "partition %s", p)
		}
		injected = append(injected, f)
	}
	if degrade {
		seedAwaitVolume(ctx, s, name, since, netdisDegraded, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessDegraded})
		before := gen.History().Counts().OK
		Expect(seedSleep(ctx, time.Until(since.Add(netdisDown)))).To(Succeed())
		acked := gen.History().Counts().OK - before
		Expect(acked).To(BeNumerically(">", 0), "no write acknowledged while the volume ran degraded on %s's own replica", name)
		s.Env.progressf("     %s: %d writes acknowledged while degraded", s.Name, acked)
	} else {
		Expect(seedSleep(ctx, netdisDown)).To(Succeed())
	}
	for _, f := range injected {
		Expect(s.Faults.Heal(ctx, f)).To(Succeed())
	}
	healed := time.Now()
	// Writes the partition held may have failed or lost their answer;
	// the connection may be gone (faultline speaks from the manager's
	// address, so a node cut off from the manager is cut off from it too).
	stop()
	Expect(dev.Close()).To(Succeed())
	took := awaitRecovery(ctx, s, fmt.Sprintf("volume %s recovered after the partition", name), map[string]int{name: 3},
		recovery{Since: since, Deadline: netdisDeadline, Hold: netdisHold, Outage: degrade})
	s.Env.progressf("     %s: healthy %v after the heal", s.Name, took-healed.Sub(since))
	vol, err := s.Client().GetVolume(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	return seedDial(ctx, s, vol.Status.Endpoint, time.Minute)
}
