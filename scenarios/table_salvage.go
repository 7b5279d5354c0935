package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// salvageCase is the table's row 3 (test_ha.py
// test_salvage_auto_crash_all_replicas, test_ha_salvage): every replica
// of a volume crashes, the volume faults, and auto-salvage must bring it
// back from the replicas that hold the newest data.
type salvageCase int

const (
	// salvageAll crashes every replica at once.
	salvageAll salvageCase = iota
	// salvageStale crashes one replica first; it goes stale while
	// flushed writes continue on the others, which then crash too.
	salvageStale
)

func (c salvageCase) name() string {
	return [...]string{"salvage-all-replicas-crash", "salvage-stale-replica-not-chosen"}[c]
}

// salvageAfterCrash is one scenario of row 3 per case.
func salvageAfterCrash(c salvageCase) scenario {
	desc := "3-replica 64 MiB volume, data flushed and a flushed writer; every replica crashes at once (replica-crash); the volume faults and " +
		"auto-salvage brings it back healthy with every acknowledged write, replicas equal and reads deterministic"
	if c == salvageStale {
		desc = "3-replica 64 MiB volume, data flushed and a flushed writer; one replica crashes, data set 2 is written and flushed on the others, " +
			"then they crash too; auto-salvage must not bring the stale replica's data back: data set 2 intact, replicas equal, reads deterministic"
	}
	return scenario{
		Name:        c.name(),
		Labels:      []string{"table", "salvage", "v2"},
		Description: desc,
		Timeout:     5 * time.Minute,
		Body:        func(ctx context.Context, s *Spec) { runSalvage(ctx, s, c) },
	}
}

const (
	svSize     = 64 << 20
	svSet      = 16 << 20 // data set 1
	svSet2     = 4 << 20  // data set 2, written while one replica is stale
	svBlock    = 64 << 10
	svDeadline = 2 * time.Minute
	svHold     = 3 * time.Second
)

func runSalvage(ctx context.Context, s *Spec, sc salvageCase) {
	c := s.Client()
	name := fmt.Sprintf("salv%d-%d", sc, s.Seed%1_000_000)
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	s.Step(fmt.Sprintf("create volume %s (%d MiB, 3 replicas) and attach it to %s", name, svSize>>20, node))
	_, dev := createAttached(ctx, s, api.VolumeCreateRequest{Name: name, Size: svSize, NumberOfReplicas: 3}, node)
	defer func() { dev.Close() }()

	s.Step(fmt.Sprintf("data set 1 (%d MiB) flushed; a flushed writer keeps going", svSet>>20))
	set1 := tableFill(ctx, s, name, 0, svSet, svBlock, 1, dev)
	bg := tableWriter(s, name, svSet+svSet2, svSize-svSet-svSet2, 3)
	stop := seedBackground(ctx, bg, dev)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	Expect(seedSleep(ctx, s.Faults.Jitter(300*time.Millisecond, time.Second))).To(Succeed())

	reps := replicasOffNode(ctx, s, name, "")
	var stale api.Replica
	var set2 *workload.Generator
	var staleKnown string
	rest := reps
	if sc == salvageStale {
		stale = reps[s.Faults.Intn(len(reps))]
		rest = slices.DeleteFunc(slices.Clone(reps), func(r api.Replica) bool { return r.Name == stale.Name })
		s.Step(fmt.Sprintf("crash replica %s on %s; write and flush data set 2 (%d MiB) on the other two", stale.Name, stale.Spec.Node, svSet2>>20))
		crash := faults.ReplicaCrash(s.Env.Cluster, c, stale.Name)
		Expect(s.Faults.Inject(ctx, crash)).To(Succeed())
		Expect(s.Faults.Heal(ctx, crash)).To(Succeed())
		// A degraded volume takes writes: every one must succeed.
		set2 = tableFill(ctx, s, name, svSet, svSet2, svBlock, 2, dev)
		// Whether the manager still has the stale replica when the rest
		// crash decides whether salvage can choose it at all.
		if r, ok := replicaByName(ctx, s, name, stale.Name); !ok || r.Spec.Deleting {
			staleKnown = "gone before the others crashed (the manager removed it)"
		} else {
			staleKnown = fmt.Sprintf("still known when the others crashed (%s/%s)", r.Status.State, r.Status.Mode)
		}
	}

	s.Step(fmt.Sprintf("crash %s at once", replicaNames(rest)))
	crashed := time.Now()
	crashAll(ctx, s, rest)

	s.Step("wait for the volume to fault, be salvaged and be attached/healthy with 3 RW replicas")
	awaitSample(ctx, s, "volume "+name+" faulted", crashed, svDeadline, func(x state.Sample) bool {
		return x.Kind == state.KindVolume && x.Name == name && x.Robustness == api.RobustnessFaulted
	})
	took := awaitRecovery(ctx, s, fmt.Sprintf("volume %s salvaged", name), map[string]int{name: 3},
		recovery{Since: crashed, Deadline: svDeadline, Hold: svHold, Outage: true})
	stop()
	stopped = true
	vol, err := c.GetVolume(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	salvaged := salvageVerdict(vol, crashed, took)
	if sc == salvageStale {
		ev, revived := staleEvidence(s.States.Samples(), stale, crashed, staleKnown)
		salvaged.Evidence = append(salvaged.Evidence, ev...)
		if revived {
			// Longhorn's expectation: the stale replica is not chosen.
			// The engine's resync would make its data right, but a
			// salvage that picks it trusts a replica that missed writes.
			salvaged.Outcome = checkers.Fail
			salvaged.Summary = fmt.Sprintf("auto-salvage revived %s, which missed data set 2, as one of the newest replicas", stale.Name)
		}
	}
	s.Env.progressf("     %s: %s", s.Name, salvaged.Summary)
	for _, e := range salvaged.Evidence[1:] {
		s.Env.progressf("     %s: %s: %s", s.Name, e.What, e.Actual)
	}
	Expect(dev.Close()).To(Succeed())
	dev = redial(ctx, s, name)

	s.Step("salvaged, replicas equal, reads deterministic, history, no orphans")
	// A replica crash kills no process: every acknowledged write reached
	// the node of every replica that was RW then.
	hist := history.Checker{AckedIsDurable: true, Recorder: s.Timeline}
	vs := []checkers.Verdict{
		salvaged,
		s.Integrity().ReplicasEqual(ctx, name),
		s.Integrity().ReadsDeterministic(ctx, dev, integrity.ReadOptions{K: 6, Seed: s.Seed}),
		hist.Check(ctx, set1.History(), dev),
		hist.Check(ctx, bg.History(), dev),
	}
	if set2 != nil {
		vs = append(vs, hist.Check(ctx, set2.History(), dev))
	}
	s.CheckAll(append(vs, s.NoOrphans(ctx))...)
}

// crashAll crashes the replicas together, one goroutine each, so that
// none is left running for more than a few milliseconds after the first.
func crashAll(ctx context.Context, s *Spec, reps []api.Replica) {
	c := s.Client()
	fs := make([]faults.Fault, len(reps))
	errs := make([]error, len(reps))
	var wg sync.WaitGroup
	for i, r := range reps {
		fs[i] = faults.ReplicaCrash(s.Env.Cluster, c, r.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Faults.Inject(ctx, fs[i])
		}()
	}
	wg.Wait()
	for i := range reps {
		Expect(errs[i]).NotTo(HaveOccurred(), "crash %s", reps[i].Name)
		Expect(s.Faults.Heal(ctx, fs[i])).To(Succeed())
	}
}

// salvageVerdict is state-converge for the salvage itself: the volume came
// back through auto-salvage (lastSalvagedAt after the crash), not by some
// other path.
func salvageVerdict(v api.Volume, crashed time.Time, took time.Duration) checkers.Verdict {
	out := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
		Summary: fmt.Sprintf("volume %s auto-salvaged %v after the crash, healthy %v after it", v.Name,
			v.Status.LastSalvagedAt.Sub(crashed).Round(time.Millisecond), took.Round(time.Millisecond)),
		Evidence: []checkers.Evidence{{What: "lastSalvagedAt", Expected: "after " + crashed.Format(time.RFC3339Nano), Actual: v.Status.LastSalvagedAt.Format(time.RFC3339Nano)}}}
	if !v.Status.LastSalvagedAt.After(crashed) {
		out.Outcome = checkers.Fail
		out.Summary = fmt.Sprintf("volume %s is healthy again but was not auto-salvaged after its replicas crashed", v.Name)
	}
	return out
}

// staleEvidence says what became of the stale replica: revived by the
// salvage (RW again without a rebuild), or rebuilt or replaced.
func staleEvidence(samples []state.Sample, stale api.Replica, crashed time.Time, known string) ([]checkers.Evidence, bool) {
	now := time.Now()
	revived := seenMode(samples, stale.Name, api.ModeRW, crashed, now) && !seenMode(samples, stale.Name, api.ModeWO, crashed, now)
	what := "not revived by the salvage (rebuilt or replaced)"
	if revived {
		what = "revived by the salvage (RW again without a rebuild): the engine's resync must have brought it up to date"
	}
	return []checkers.Evidence{
		{What: "stale replica " + stale.Name, Actual: known},
		{What: "stale replica after the salvage", Actual: what},
	}, revived
}

// replicaNames lists replicas by name, for steps.
func replicaNames(reps []api.Replica) string {
	names := make([]string, len(reps))
	for i, r := range reps {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}
