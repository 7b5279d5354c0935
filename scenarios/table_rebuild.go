package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/faults"
)

// rebuildFault is what the table's row 1 does to a rebuild in progress
// (longhorn-tests replica_rebuilding.robot and
// test_rebuild_failure_with_intensive_data): a rebuild has the most
// intermediate state of anything refengine does (an external-snapshot
// clone of the source, shallow copies, a re-parent under held I/O), and a
// fault in the middle must leave neither lost data nor leftovers.
type rebuildFault int

const (
	// rebuildDeleteDst deletes the destination while it rebuilds.
	rebuildDeleteDst rebuildFault = iota
	// rebuildCrashSrc crashes the source replica (replica-crash).
	rebuildCrashSrc
	// rebuildStopSrcNode stops the source's node (node-stop).
	rebuildStopSrcNode
)

func (f rebuildFault) name() string {
	return [...]string{"rebuild-delete-destination", "rebuild-crash-source", "rebuild-stop-source-node"}[f]
}

// what says what the fault does, for steps and descriptions.
func (f rebuildFault) what() string {
	return [...]string{"delete the rebuild's destination replica", "crash the rebuild's source replica (replica-crash)",
		"stop the rebuild's source node (node-stop)"}[f]
}

// rebuildUnderFault is one scenario of row 1 per fault.
func rebuildUnderFault(f rebuildFault) scenario {
	return scenario{
		Name:   f.name(),
		Labels: []string{"table", "rebuild", "v2"},
		Description: "3-replica 128 MiB volume: data set 1, a snapshot, data set 2, a flushed writer; a replica is deleted and, once its " +
			"replacement is seen rebuilding (WO) on the change stream, " + f.what() + "; healthy again, history, replicas equal, no orphans",
		Timeout: 6 * time.Minute,
		Body:    func(ctx context.Context, s *Spec) { runRebuildUnderFault(ctx, s, f) },
	}
}

const (
	rbSize  = 128 << 20
	rbSet   = 48 << 20 // each data set; the writer has the rest
	rbBlock = 256 << 10
	// rbAttempts bounds how often a rebuild is started before the fault
	// lands in one: a rebuild that ends before the fault is not the
	// fault this scenario is about, so it tries again.
	rbAttempts = 3
	// rbStart bounds the wait for a replacement to start rebuilding,
	// rbDeadline the recovery after the fault.
	rbStart    = 2 * time.Minute
	rbDeadline = 3 * time.Minute
	// rbHold: the recovered state must hold longer than the engine and
	// the manager take to notice a replica that died (1 s each).
	rbHold = 3 * time.Second
	// The stopped node stays down for a seeded time in this range.
	rbMinDown = 2 * time.Second
	rbMaxDown = 5 * time.Second
)

func runRebuildUnderFault(ctx context.Context, s *Spec, f rebuildFault) {
	c := s.Client()
	name := fmt.Sprintf("rbf%d-%d", f, s.Seed%1_000_000)
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	s.Step(fmt.Sprintf("create volume %s (%d MiB, 3 replicas)", name, rbSize>>20))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: rbSize, NumberOfReplicas: 3, Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)
	node := rebuildAttachNode(ctx, s, name)
	s.Step(fmt.Sprintf("attach %s to %s", name, node))
	_, err = c.AttachVolume(ctx, name, node)
	Expect(err).NotTo(HaveOccurred())
	vol := seedAwaitVolume(ctx, s, name, time.Now(), 2*time.Minute, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy})
	dev := seedDial(ctx, s, vol.Status.Endpoint, time.Minute)
	defer func() { dev.Close() }()

	s.Step(fmt.Sprintf("data set 1 (%d MiB), snapshot, data set 2 (%d MiB), each flushed", rbSet>>20, rbSet>>20))
	set1 := tableFill(ctx, s, name, 0, rbSet, rbBlock, 1, dev)
	takeSnapshot(ctx, s, name, "set1")
	set2 := tableFill(ctx, s, name, rbSet, rbSet, rbBlock, 2, dev)
	bg := tableWriter(s, name, 2*rbSet, rbSize-2*rbSet, 3)
	stop := seedBackground(ctx, bg, dev)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	before := len(bg.History().Ops())

	var hit rebuildHit
	for attempt := 1; ; attempt++ {
		var ok bool
		hit, ok = startRebuild(ctx, s, name, attempt)
		if ok {
			break
		}
		if attempt == rbAttempts {
			s.Check(timingVerdict(false, fmt.Sprintf("%d rebuilds of %s ended before the fault could be injected", rbAttempts, name)))
		}
		s.Step(fmt.Sprintf("attempt %d/%d: the rebuild ended before the fault; wait for healthy and start another", attempt, rbAttempts))
		awaitRecovery(ctx, s, fmt.Sprintf("volume %s healthy after a rebuild", name), map[string]int{name: 3},
			recovery{Since: hit.started, Deadline: rbDeadline})
	}
	srcRep, _ := replicaByName(ctx, s, name, hit.src)
	s.Step(fmt.Sprintf("%s: destination %s on %s, source %s on %s, engine on %s", f.what(), hit.dst.Name, hit.dst.Spec.Node, hit.src, srcRep.Spec.Node, hit.engineNode))
	var fault faults.Fault
	switch f {
	case rebuildDeleteDst:
		fault = faults.ReplicaDelete(c, hit.dst.Name)
	case rebuildCrashSrc:
		fault = faults.ReplicaCrash(s.Env.Cluster, c, hit.src)
	case rebuildStopSrcNode:
		fault = faults.NodeStop(s.Env.Cluster, srcRep.Spec.Node)
	}
	injected := time.Now()
	Expect(s.Faults.Inject(ctx, fault)).To(Succeed())
	if f == rebuildStopSrcNode {
		Expect(seedSleep(ctx, s.Faults.Jitter(rbMinDown, rbMaxDown))).To(Succeed())
	}
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = s.Faults.Heal(hctx, fault)
	cancel()
	Expect(err).NotTo(HaveOccurred(), "heal %s", fault.Name())
	timing := hit.verdict(s.States.Samples(), injected)

	s.Step("wait for attached/healthy with 3 RW replicas, a rebuild seen after the fault")
	took := awaitRecovery(ctx, s, fmt.Sprintf("volume %s recovered from the fault mid-rebuild", name), map[string]int{name: 3},
		recovery{Since: injected, Deadline: rbDeadline, Hold: rbHold, Rebuilt: true})
	s.Env.progressf("     %s: healthy %v after the fault", s.Name, took.Round(time.Millisecond))
	stop()
	stopped = true
	flushErr := bg.Flush(ctx, dev)
	engineDied := f == rebuildStopSrcNode && srcRep.Spec.Node == hit.engineNode
	if !engineDied {
		Expect(flushErr).NotTo(HaveOccurred(), "flush of the writer")
	}
	Expect(dev.Close()).To(Succeed())
	dev = redial(ctx, s, name)

	s.Step("fault timing, volume writable, replicas equal, history, no orphans, space bounded")
	// A node stop kills processes with writes in their page cache: only
	// flushed writes must survive it. Otherwise no node died, and every
	// write the engine acknowledged reached every RW replica's node.
	hist := history.Checker{AckedIsDurable: f != rebuildStopSrcNode, Recorder: s.Timeline}
	s.CheckAll(
		timing,
		writableVerdict(ctx, s, name, bg.History(), before),
		s.Integrity().ReplicasEqual(ctx, name),
		hist.Check(ctx, set1.History(), dev),
		hist.Check(ctx, set2.History(), dev),
		hist.Check(ctx, bg.History(), dev),
		s.NoOrphans(ctx),
		s.SpaceBounded(ctx, name),
	)
}

// rebuildAttachNode picks the node the volume is attached to: the node of
// its replica last in name order. refengine rebuilds from the first RW
// member of the engine, and members are in name order at attach, so the
// source of the first rebuild is then not on the engine's node and a node
// stop of the source leaves the engine running, as in the table's "reboot
// replica node" case. The source is read from the node anyway and
// reported; when the guess is wrong the engine's node stops too.
func rebuildAttachNode(ctx context.Context, s *Spec, volume string) string {
	reps, err := s.Client().ListReplicas(ctx, volume)
	Expect(err).NotTo(HaveOccurred())
	if len(reps) == 0 {
		nodes := s.Env.Cluster.Nodes()
		return nodes[s.Rand.Intn(len(nodes))].Name
	}
	slices.SortFunc(reps, func(a, b api.Replica) int { return strings.Compare(a.Name, b.Name) })
	return reps[len(reps)-1].Spec.Node
}

// rebuildHit is a rebuild caught in progress.
type rebuildHit struct {
	started    time.Time // the victim's deletion, which started it
	victim     string
	dst        api.Replica
	src        string
	engineNode string
	seenWO     time.Time // the change stream's WO sample of dst
	looked     time.Time // the node showed the rebuild in progress
}

// startRebuild deletes a replica off the engine's node, waits until the
// change stream shows its replacement rebuilding (WO) and asks the
// replacement's node for the rebuild's source. ok is false when that
// rebuild had already finished.
func startRebuild(ctx context.Context, s *Spec, volume string, attempt int) (rebuildHit, bool) {
	c := s.Client()
	h := rebuildHit{engineNode: engineOf(ctx, s, volume).Spec.Node}
	reps := replicasOffNode(ctx, s, volume, h.engineNode)
	h.victim = reps[s.Faults.Intn(len(reps))].Name
	known, err := c.ListReplicas(ctx, volume)
	Expect(err).NotTo(HaveOccurred())
	s.Step(fmt.Sprintf("attempt %d/%d: delete replica %s to start a rebuild; wait for its replacement in WO", attempt, rbAttempts, h.victim))
	h.started = time.Now()
	del := faults.ReplicaDelete(c, h.victim)
	Expect(s.Faults.Inject(ctx, del)).To(Succeed())
	Expect(s.Faults.Heal(ctx, del)).To(Succeed())
	isNew := func(x state.Sample) bool {
		return !slices.ContainsFunc(known, func(k api.Replica) bool { return k.Name == x.Name })
	}
	wo := awaitSample(ctx, s, "a replacement of "+h.victim+" rebuilding (WO)", h.started, rbStart, replicaSample(volume, api.ModeWO, isNew))
	h.seenWO = wo.Time
	dst, ok := replicaByName(ctx, s, volume, wo.Name)
	Expect(ok).To(BeTrue(), "replacement %s vanished", wo.Name)
	h.dst = dst
	src, found, err := rebuildSource(ctx, s, dst)
	Expect(err).NotTo(HaveOccurred(), "ask %s for the rebuild of %s", dst.Spec.Node, dst.Name)
	h.src, h.looked = src, time.Now()
	return h, found
}

// verdict is fault-timing: the destination was rebuilding when the fault
// was injected, by the change stream (its last mode before the fault was
// WO) and by its node (the source's snapshot was still attached under it
// just before).
func (h rebuildHit) verdict(samples []state.Sample, injected time.Time) checkers.Verdict {
	mode := modeAt(samples, h.dst.Name, injected)
	ev := []checkers.Evidence{
		{What: "destination " + h.dst.Name, Expected: api.ModeWO, Actual: mode, Detail: "mode on the change stream at the fault, node " + h.dst.Spec.Node},
		{What: "source " + h.src, Detail: fmt.Sprintf("rebuild-src-%s attached on %s %v before the fault", h.dst.Name, h.dst.Spec.Node, injected.Sub(h.looked).Round(time.Millisecond))},
		{What: "engine node", Actual: h.engineNode},
		{What: "fault after WO seen", Actual: injected.Sub(h.seenWO).Round(time.Millisecond).String()},
	}
	ok := mode == api.ModeWO && !seenMode(samples, h.dst.Name, api.ModeRW, h.started, injected)
	return timingVerdict(ok, fmt.Sprintf("fault %v after %s was seen rebuilding from %s (mode at the fault: %s)",
		injected.Sub(h.seenWO).Round(time.Millisecond), h.dst.Name, h.src, mode), ev...)
}
