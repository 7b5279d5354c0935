package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// engineNodeStop is the table's row 4 (node_reboot.robot "Shutdown Volume
// Node And Test Auto Reattach To A New Node"): the node that runs a
// volume's engine stops while a consumer writes through it, which takes
// the engine and one replica at once. The workload moves to another node
// as Kubernetes moves a pod off a dead node (the stuck pod force-deleted,
// a new one scheduled elsewhere); the volume must follow it with the data
// it acknowledged before the stop, keep taking writes, and take the
// stopped node's replica back (rebuilt or reused) when it returns.
func engineNodeStop() scenario {
	return scenario{
		Name:   "engine-node-stop-reattach",
		Labels: []string{"table", "consumer", "v2"},
		Description: "3-replica 64 MiB volume used by a consumer on node A that writes (large blocks, flushed every 8); node A stops; " +
			"the consumer moves to node B (force-deleted on A, created on B); the volume attaches on B with the flushed data, takes writes, " +
			"and is healthy with equal replicas once A is back",
		Timeout: 6 * time.Minute,
		Body:    runEngineNodeStop,
	}
}

const (
	enSize = 64 << 20
	// enSet is data set 1; the writer under the stop has the next
	// enWriter bytes and the writes on node B the rest.
	enSet    = 16 << 20
	enWriter = 32 << 20
	// The writer's blocks are large and many in flight, so that the stop
	// is likely to leave a write on one surviving replica and not the
	// other: the resync on B must make them equal.
	enBlock    = 1 << 20
	enInFlight = 8
	enDeadline = 3 * time.Minute
	enHold     = 3 * time.Second
	// enDown: node A stays down this long after the volume runs on B.
	enMinDown = 3 * time.Second
	enMaxDown = 6 * time.Second
)

func runEngineNodeStop(ctx context.Context, s *Spec) {
	c := s.Client()
	name := fmt.Sprintf("enstop-%d", s.Seed%1_000_000)
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	nodes := s.Env.Cluster.Nodes()
	i := s.Rand.Intn(len(nodes))
	nodeA, nodeB := nodes[i].Name, nodes[(i+1+s.Rand.Intn(len(nodes)-1))%len(nodes)].Name
	s.Step(fmt.Sprintf("create volume %s (%d MiB, 3 replicas); consumer %s-a uses it on %s", name, enSize>>20, name, nodeA))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: enSize, NumberOfReplicas: 3, Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)
	app := name + "-app"
	consA, err := c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: name + "-a", Volume: name, Node: nodeA, Workload: app,
		TerminationGracePeriod: api.Duration(30 * time.Second)})
	Expect(err).NotTo(HaveOccurred())
	deleteConsumersOnCleanup(s, name)
	consA = awaitConsumerRunning(ctx, s, consA.Name, 2*time.Minute)
	dev := seedDial(ctx, s, consA.Status.Endpoint, time.Minute)

	s.Step(fmt.Sprintf("data set 1 (%d MiB) flushed; a writer of %d MiB blocks, %d in flight, flushing every 8", enSet>>20, enBlock>>20, enInFlight))
	set1 := tableFill(ctx, s, name, 0, enSet, 256<<10, 1, dev)
	bg, err := workload.New(workload.Config{
		Volume: name, BlockSize: enBlock, Offset: enSet, Length: enWriter, Pattern: workload.Random, Concurrency: enInFlight,
		FlushEvery: 8, Seed: uint64(s.Seed) + 2, Writer: 2, ErrorBackoff: 20 * time.Millisecond,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	stop := seedBackground(ctx, bg, dev)
	Expect(seedSleep(ctx, s.Faults.Jitter(500*time.Millisecond, 2*time.Second))).To(Succeed())

	s.Step(fmt.Sprintf("stop %s, the engine's node, under the writer", nodeA))
	Expect(engineOf(ctx, s, name).Spec.Node).To(Equal(nodeA))
	stopped := time.Now()
	nodeStop := faults.NodeStop(s.Env.Cluster, nodeA)
	Expect(s.Faults.Inject(ctx, nodeStop)).To(Succeed())
	stop()
	dev.Close()

	s.Step("the manager sees the engine die (remount requested); the workload moves: a consumer on " + nodeB + ", the ones on " + nodeA + " force-deleted")
	Expect(awaitRemount(ctx, s, name, stopped, time.Minute)).To(BeTrue(), "volume %s asked for no remount after its engine's node stopped", name)
	consB, err := c.CreateConsumer(ctx, api.ConsumerCreateRequest{Name: name + "-b", Volume: name, Node: nodeB, Workload: app,
		TerminationGracePeriod: api.Duration(30 * time.Second)})
	Expect(err).NotTo(HaveOccurred())
	consB = moveConsumer(ctx, s, name, nodeA, consB.Name, enDeadline)
	moved := time.Since(stopped)
	devB := seedDial(ctx, s, consB.Status.Endpoint, time.Minute)
	defer func() { devB.Close() }()
	vol, err := c.GetVolume(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	s.Env.progressf("     %s: %s runs on %s %v after the stop; volume %s/%s on %s", s.Name, consB.Name, nodeB, moved.Round(time.Millisecond),
		vol.Status.State, vol.Status.Robustness, vol.Status.Node)

	// The stop killed processes with writes in their page cache: what
	// was flushed before it must be there, nothing more is promised.
	hist := history.Checker{Recorder: s.Timeline}
	s.Step("on " + nodeB + ": the data flushed before the stop is there; writes go on while " + nodeA + " is down")
	s.CheckAll(
		attachedOnVerdict(vol, nodeB),
		hist.Check(ctx, set1.History(), devB),
		hist.Check(ctx, bg.History(), devB),
	)
	onB := tableWriter(s, name, enSet+enWriter, enSize-enSet-enWriter, 3)
	stopB := seedBackground(ctx, onB, devB)
	stoppedB := false
	defer func() {
		if !stoppedB {
			stopB()
		}
	}()
	Expect(seedSleep(ctx, s.Faults.Jitter(enMinDown, enMaxDown))).To(Succeed())

	s.Step(fmt.Sprintf("start %s again; wait for attached/healthy on %s with 3 RW replicas", nodeA, nodeB))
	started := time.Now()
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = s.Faults.Heal(hctx, nodeStop)
	cancel()
	Expect(err).NotTo(HaveOccurred(), "start %s again", nodeA)
	took := awaitRecovery(ctx, s, fmt.Sprintf("volume %s healthy after %s came back", name, nodeA), map[string]int{name: 3},
		recovery{Since: started, Deadline: enDeadline, Hold: enHold})
	s.Env.progressf("     %s: healthy %v after %s started again", s.Name, took.Round(time.Millisecond), nodeA)
	stopB()
	stoppedB = true
	Expect(onB.Flush(ctx, devB)).To(Succeed(), "flush of the writer on %s", nodeB)
	vol, err = c.GetVolume(ctx, name)
	Expect(err).NotTo(HaveOccurred())

	s.Step("still on " + nodeB + ", volume writable, replicas equal, history, no orphans")
	s.CheckAll(
		attachedOnVerdict(vol, nodeB),
		writableVerdict(ctx, s, name, onB.History(), 0),
		s.Integrity().ReplicasEqual(ctx, name),
		hist.Check(ctx, set1.History(), devB),
		hist.Check(ctx, bg.History(), devB),
		hist.Check(ctx, onB.History(), devB),
		s.NoOrphans(ctx),
	)
}

// moveConsumer force-deletes every consumer of volume on node from, as a
// tester deletes the pods stuck on a dead node, until the consumer named
// to runs. It deletes on every pass: the remount may replace a consumer on
// the dead node after the first look.
func moveConsumer(ctx context.Context, s *Spec, volume, from, to string, deadline time.Duration) api.Consumer {
	c := s.Client()
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last api.Consumer
	var lastErr error
	for {
		cons, err := c.ListConsumers(dctx, volume)
		for _, x := range cons {
			if x.Spec.Node == from {
				c.DeleteConsumer(dctx, x.Name, true) // a consumer already gone is fine
			}
		}
		if err == nil {
			last, lastErr = c.GetConsumer(dctx, to)
			if lastErr == nil && last.Status.State == api.ConsumerRunning {
				return last
			}
		}
		if !sleepCtx(dctx, 100*time.Millisecond) {
			break
		}
	}
	Expect(ctx.Err()).NotTo(HaveOccurred(), "waiting for consumer %s", to)
	s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
		Summary: fmt.Sprintf("consumer %s not running within %v of the consumers on %s being force-deleted", to, deadline, from),
		Evidence: []checkers.Evidence{{What: "consumer " + to, Expected: api.ConsumerRunning,
			Actual: fmt.Sprintf("%s (%s) err=%v", last.Status.State, last.Status.Message, lastErr)}}})
	return last
}

// attachedOnVerdict is state-converge for where the volume serves: the
// workload moved to node, and so must the volume.
func attachedOnVerdict(v api.Volume, node string) checkers.Verdict {
	out := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
		Summary:  fmt.Sprintf("volume %s attached on %s (%s)", v.Name, node, v.Status.Robustness),
		Evidence: []checkers.Evidence{{What: "volume " + v.Name, Expected: "attached on " + node, Actual: describeVolume(v)}}}
	if v.Status.State != api.VolumeAttached || v.Status.Node != node {
		out.Outcome = checkers.Fail
		out.Summary = fmt.Sprintf("volume %s is not attached on %s, where its consumer runs: %s", v.Name, node, describeVolume(v))
	}
	return out
}
