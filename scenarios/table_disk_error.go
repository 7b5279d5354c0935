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

// diskErrorReplica is the table's row 7 (io_error.robot "Replica Fails
// When Disk Has I/O Errors", Longhorn v2 known issue #13354): one node's
// disk fails every write with EIO. The replica there must fail and stay
// failed while the disk is broken (no replica on that node may run RW),
// the volume must go on degraded with every write succeeding and its data
// intact on the other replicas, and once the disk is healed it must be
// healthy again with equal replicas.
func diskErrorReplica() scenario {
	return scenario{
		Name:   "disk-error-replica-fails",
		Labels: []string{"table", "disk-error", "v2"},
		Description: "3-replica 64 MiB volume with data and a flushed writer; one replica node's disk fails every write (disk-error, EIO) for 10 s: " +
			"that replica fails, no replica runs RW on that node, writes succeed, data intact on the rest, at most one replica a second tried there; " +
			"healed, the volume is healthy with equal replicas",
		Timeout: 5 * time.Minute,
		Body:    runDiskErrorReplica,
	}
}

const (
	deSize = 64 << 20
	deSet  = 16 << 20
	// deHold is how long the disk stays broken after its replica failed.
	deHold     = 10 * time.Second
	deFail     = 30 * time.Second // the replica's failure must show by then
	deDeadline = 3 * time.Minute
	deRecHold  = 3 * time.Second
)

func runDiskErrorReplica(ctx context.Context, s *Spec) {
	c := s.Client()
	name := fmt.Sprintf("diskerr-%d", s.Seed%1_000_000)
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	s.Step(fmt.Sprintf("create volume %s (%d MiB, 3 replicas) and attach it to %s", name, deSize>>20, node))
	_, dev := createAttached(ctx, s, api.VolumeCreateRequest{Name: name, Size: deSize, NumberOfReplicas: 3}, node)
	defer func() { dev.Close() }()

	s.Step(fmt.Sprintf("data set 1 (%d MiB) flushed; a flushed writer keeps going", deSet>>20))
	set1 := tableFill(ctx, s, name, 0, deSet, 256<<10, 1, dev)
	bg := tableWriter(s, name, deSet, deSize-deSet, 2)
	stop := seedBackground(ctx, bg, dev)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	reps := replicasOffNode(ctx, s, name, node)
	victim := reps[s.Faults.Intn(len(reps))]
	bad := victim.Spec.Node
	// Every disk of the node fails (Longhorn's test breaks the node's one
	// disk): a node with a second, healthy disk would rightly take the
	// replacement there.
	n, err := c.GetNode(ctx, bad)
	Expect(err).NotTo(HaveOccurred())
	var broken []faults.Fault
	for _, d := range n.Status.Disks {
		broken = append(broken, faults.DiskError(s.Env.Cluster, bad, faults.DiskErrorOptions{Disk: d.Name, IOType: "write"}))
	}
	Expect(broken).NotTo(BeEmpty(), "node %s reports no disk", bad)
	s.Step(fmt.Sprintf("every write to %s's disks (%d) fails with EIO (replica %s)", bad, len(broken), victim.Name))
	injected := time.Now()
	for _, f := range broken {
		Expect(s.Faults.Inject(ctx, f)).To(Succeed())
	}
	from := len(bg.History().Ops())

	s.Step(fmt.Sprintf("wait for %s to fail (ERR) and the volume to degrade; keep the disk broken for %v", victim.Name, deHold))
	failed := awaitSample(ctx, s, "replica "+victim.Name+" ERR", injected, deFail, func(x state.Sample) bool {
		return x.Kind == state.KindReplica && x.Name == victim.Name && x.Detail["mode"] == api.ModeERR
	})
	awaitSample(ctx, s, "volume "+name+" degraded", injected, deFail, func(x state.Sample) bool {
		return x.Kind == state.KindVolume && x.Name == name && x.Robustness == api.RobustnessDegraded
	})
	Expect(seedSleep(ctx, deHold)).To(Succeed())
	brokenUntil := time.Now()
	samples := s.States.Samples()
	rwOnBad := state.Condition{What: "a replica of " + name + " RW on " + bad, Holds: func(x state.Sample) bool {
		return x.Kind == state.KindReplica && strings.HasPrefix(x.Name, name+"-r-") && x.Node == bad && x.Detail["mode"] == api.ModeRW
	}}
	never := state.Never(samplesSince(samples, failed.Time), rwOnBad, 0, brokenUntil)
	churn := churnVerdict(samples, name, bad, victim.Name, failed.Time, brokenUntil)
	vol, err := c.GetVolume(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	// The replicas are compared at rest: the writer pauses, flushed, for
	// the checks and goes on afterwards with the disk still broken.
	stop()
	Expect(bg.Flush(ctx, dev)).To(Succeed(), "flush of the writer on the degraded volume")

	s.Step("while the disk is broken: degraded, no RW replica on " + bad + ", writes succeed, data intact on the other replicas")
	// No process died: every write the engine acknowledged reached the
	// replicas that were RW then.
	hist := history.Checker{AckedIsDurable: true, Recorder: s.Timeline}
	s.CheckAll(
		degradedVerdict(vol),
		never,
		writableVerdict(ctx, s, name, bg.History(), from),
		s.Integrity().ReplicasEqual(ctx, name),
		hist.Check(ctx, set1.History(), dev),
		hist.Check(ctx, bg.History(), dev),
	)
	stop = seedBackground(ctx, bg, dev)

	s.Step("heal the disk; wait for attached/healthy with 3 RW replicas")
	healed := time.Now()
	for _, f := range broken {
		Expect(s.Faults.Heal(ctx, f)).To(Succeed())
	}
	took := awaitRecovery(ctx, s, fmt.Sprintf("volume %s healthy after %s's disk healed", name, bad), map[string]int{name: 3},
		recovery{Since: healed, Deadline: deDeadline, Hold: deRecHold})
	var fired uint64
	for _, f := range broken {
		n, _ := f.(interface{ Fired() (uint64, bool) }).Fired()
		fired += n
	}
	s.Env.progressf("     %s: %d writes failed on %s's disk; healthy %v after the heal", s.Name, fired, bad, took.Round(time.Millisecond))
	stop()
	stopped = true
	Expect(bg.Flush(ctx, dev)).To(Succeed(), "flush of the writer")

	s.Step("volume writable, replicas equal, history, no orphans, space bounded, replica churn while broken")
	s.CheckAll(
		writableVerdict(ctx, s, name, bg.History(), from),
		s.Integrity().ReplicasEqual(ctx, name),
		hist.Check(ctx, set1.History(), dev),
		hist.Check(ctx, bg.History(), dev),
		s.NoOrphans(ctx),
		s.SpaceBounded(ctx, name),
		// Last, so that one report shows every other check too.
		churn,
	)
}

// degradedVerdict is state-converge while one replica's disk is broken:
// the volume serves, degraded, never healthy (it has lost a replica) and
// never faulted (two replicas are fine).
func degradedVerdict(v api.Volume) checkers.Verdict {
	out := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
		Summary:  fmt.Sprintf("volume %s attached/degraded while a replica's disk fails writes", v.Name),
		Evidence: []checkers.Evidence{{What: "volume " + v.Name, Expected: api.VolumeAttached + "/" + api.RobustnessDegraded, Actual: describeVolume(v)}}}
	if v.Status.State != api.VolumeAttached || v.Status.Robustness != api.RobustnessDegraded {
		out.Outcome = checkers.Fail
		out.Summary = fmt.Sprintf("volume %s is %s/%s while a replica's disk fails writes, want attached/degraded", v.Name, v.Status.State, v.Status.Robustness)
	}
	return out
}

// deMaxTries bounds the replicas the control plane may try on the broken
// node during deHold: one a second. A replica that cannot start there
// fails at once, so without a backoff the manager schedules, fails and
// deletes one after another as fast as it can, flooding its store and
// change stream while the disk stays broken.
const deMaxTries = int(deHold / time.Second)

// churnVerdict is replica-churn (this scenario's own check): how many new
// replicas of volume the manager placed on node in [from, to], the
// replica that failed (skip) not counted; more than deMaxTries fails.
func churnVerdict(samples []state.Sample, volume, node, skip string, from, to time.Time) checkers.Verdict {
	var tried []string
	for _, x := range samples {
		if x.Kind == state.KindReplica && strings.HasPrefix(x.Name, volume+"-r-") && x.Name != skip && x.Node == node &&
			!x.Time.Before(from) && !x.Time.After(to) && !slices.Contains(tried, x.Name) {
			tried = append(tried, x.Name)
		}
	}
	v := checkers.Verdict{Checker: "replica-churn", Outcome: checkers.Pass, At: time.Now(),
		Summary: fmt.Sprintf("%d replicas of %s tried on %s in the %v its disk failed writes (at most %d)", len(tried), volume, node, to.Sub(from).Round(time.Second), deMaxTries)}
	if len(tried) > deMaxTries {
		v.Outcome = checkers.Fail
		v.Summary = fmt.Sprintf("the manager tried %d replicas of %s on %s in %v while its disk failed every write (at most %d): no backoff",
			len(tried), volume, node, to.Sub(from).Round(time.Second), deMaxTries)
	}
	shown := tried[:min(len(tried), 5)]
	v.Evidence = []checkers.Evidence{{What: "replicas tried on " + node, Expected: fmt.Sprintf("at most %d", deMaxTries),
		Actual: fmt.Sprintf("%d: %s", len(tried), strings.Join(shown, ", "))}}
	return v
}
