package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/timeline"
	"github.com/faultline/faultline/workload"
)

// soakName is the soak scenario's name and label.
const soakName = "soak"

const (
	// SoakMargin is the spec timeout beyond the soak's duration: the last
	// fault's recovery, the final check round and the cleanup.
	SoakMargin = 15 * time.Minute
	// soakRecoveryDeadline bounds every wait for all volumes to be
	// attached and healthy with every replica RW.
	soakRecoveryDeadline = 3 * time.Minute
	// soakHealDeadline bounds healing one fault (a node starting again).
	soakHealDeadline = 2 * time.Minute
	// soakHold is how long every volume must stay recovered before it
	// counts: longer than the manager takes to notice a dead engine or
	// node, so a status from before the fault is not taken for recovery.
	soakHold = 3 * time.Second
	// The writers: random 4 KiB blocks at a modest rate, flushed now and
	// then, backing off while the volume has no frontend.
	soakRate         = 40
	soakFlushEvery   = 32
	soakConcurrency  = 2
	soakErrorBackoff = 250 * time.Millisecond
	// soakReadSample is how many 1 MiB chunks reads-deterministic reads
	// per volume and round (the first, the last and seeded others).
	soakReadSample = 8
)

// soakSizes are the volume sizes the soak draws from.
var soakSizes = [...]int64{16 << 20, 32 << 20, 64 << 20}

// soak is the Jepsen-style nemesis run by `faultline soak`: it runs only
// when selected explicitly (it is explicit in the catalogue), for as long
// as it is told.
func soak() scenario {
	return scenario{
		Name:   soakName,
		Labels: []string{soakName},
		Description: "faultline soak: several volumes under continuous writers; a seeded schedule of node stops, " +
			"instance-manager deletions, engine crashes and replica deletions for --duration; every checker at quiescent points",
		Timeout:   DefaultSoakDuration + SoakMargin,
		timeoutOf: func(c *Config) time.Duration { return c.Soak.withDefaults().Duration + SoakMargin },
		explicit:  true,
		Body:      runSoak,
	}
}

// soakVolume is one volume of the soak and its writer.
type soakVolume struct {
	name     string
	size     int64
	replicas int
	gen      *workload.Generator
	dev      *reconnectingDevice
}

// soakRun is the state of one soak.
type soakRun struct {
	s         *Spec
	cfg       SoakConfig
	c         *client.Client
	vols      []*soakVolume
	gate      *writeGate
	sum       *soakSummary
	start     time.Time
	completed bool
}

func runSoak(ctx context.Context, s *Spec) {
	r := &soakRun{s: s, cfg: s.Env.cfg.Soak.withDefaults(), c: s.Client(), gate: newWriteGate(), sum: newSoakSummary()}
	nodes := s.Env.Cluster.Nodes()
	Expect(len(nodes)).To(BeNumerically(">=", 2), "the soak needs at least 2 nodes")
	Expect(CheckSoakFaultKinds(r.cfg.FaultKinds)).To(Succeed())
	s.Step(fmt.Sprintf("wait for %d nodes to be up in the manager", len(nodes)))
	s.RequireNodes(ctx, len(nodes))

	r.createVolumes(ctx)
	r.startWriters(ctx)
	DeferCleanup(r.report)

	kinds := r.cfg.FaultKinds
	if len(kinds) == 0 {
		kinds = SoakFaultKinds()
	}
	s.Step(fmt.Sprintf("inject faults for %v (%s), checks every %d fault(s)", r.cfg.Duration, strings.Join(kinds, ", "), r.cfg.CheckEvery))
	r.start = time.Now()
	end := r.start.Add(r.cfg.Duration)
	sched := newSoakSchedule(s.Seed, r.cfg.FaultKinds, len(nodes), len(r.vols))
	sinceCheck, rounds := 0, 0
	for {
		f := sched.next()
		if time.Now().Add(f.Pause).After(end) {
			break
		}
		Expect(seedSleep(ctx, f.Pause)).To(Succeed())
		r.inject(ctx, f)
		if sinceCheck++; sinceCheck == r.cfg.CheckEvery {
			rounds++
			r.checkRound(ctx, rounds, f.N)
			sinceCheck = 0
		}
	}
	if sinceCheck > 0 || rounds == 0 {
		rounds++
		r.checkRound(ctx, rounds, sched.n-1)
	}
	r.completed = true
}

// createVolumes creates, attaches and waits for the soak's volumes:
// seeded sizes, replica counts (2 or 3, at most one per node) and nodes.
func (r *soakRun) createVolumes(ctx context.Context) {
	s := r.s
	nodes := s.Env.Cluster.Nodes()
	for i := range r.cfg.Volumes {
		v := &soakVolume{
			name:     fmt.Sprintf("soak-%d-%d", s.Seed%1_000_000, i+1),
			size:     soakSizes[s.Rand.Intn(len(soakSizes))],
			replicas: min(2+s.Rand.Intn(2), len(nodes)),
		}
		node := nodes[s.Rand.Intn(len(nodes))].Name
		s.Step(fmt.Sprintf("create volume %s (%d MiB, %d replicas) and attach it to %s", v.name, v.size>>20, v.replicas, node))
		_, conn := createAttached(ctx, s, api.VolumeCreateRequest{Name: v.name, Size: v.size, NumberOfReplicas: v.replicas}, node)
		Expect(conn.Close()).To(Succeed())
		r.vols = append(r.vols, v)
	}
}

// startWriters starts one writer per volume and registers their stop.
func (r *soakRun) startWriters(ctx context.Context) {
	s := r.s
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, v := range r.vols {
		gen, err := workload.New(workload.Config{
			Volume: v.name, BlockSize: 4096, Pattern: workload.Random, Concurrency: soakConcurrency,
			Rate: soakRate, FlushEvery: soakFlushEvery, Seed: uint64(s.Seed) + uint64(i), Writer: uint32(i + 1),
			ErrorBackoff: soakErrorBackoff, Classify: workload.UnknownOn(nbd.ErrDisconnected),
			Recorder: s.Timeline, Logger: seedLogger(),
		})
		Expect(err).NotTo(HaveOccurred())
		v.gen = gen
		v.dev = newReconnectingDevice(wctx, v.size, volumeEndpoint(r.c, v.name))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer GinkgoRecover()
			gen.Run(wctx, gatedDevice{gate: r.gate, dev: v.dev})
		}()
	}
	DeferCleanup(func() {
		cancel()
		r.gate.release()
		wg.Wait()
		for _, v := range r.vols {
			v.dev.Close()
		}
	})
}

// inject resolves f's victim, injects it, heals it and waits until every
// volume has recovered.
func (r *soakRun) inject(ctx context.Context, f plannedFault) {
	s := r.s
	var (
		fault  faults.Fault
		victim string
		hit    []string // the volumes the fault must take out of attached/healthy
	)
	switch f.Kind {
	case soakNodeStop:
		victim = s.Env.Cluster.Nodes()[f.Target].Name
		fault = faults.NodeStop(s.Env.Cluster, victim)
		hit = r.volumesOn(ctx, victim)
	case soakIMDelete:
		victim = s.Env.Cluster.Nodes()[f.Target].Name
		fault = faults.InstanceManagerDelete(s.Env.Cluster, victim)
		hit = r.volumesOn(ctx, victim)
	case soakEngineCrash:
		v := r.vols[f.Target]
		victim = engineOf(ctx, s, v.name).Name
		fault = faults.EngineCrash(s.Env.Cluster, victim)
		hit = []string{v.name}
	case soakReplicaDelete:
		v := r.vols[f.Target]
		reps := replicasOffNode(ctx, s, v.name, "")
		victim = reps[f.Replica%len(reps)].Name
		fault = faults.ReplicaDelete(r.c, victim)
		hit = []string{v.name}
	case soakReplicaCrash:
		v := r.vols[f.Target]
		reps := replicasOffNode(ctx, s, v.name, "")
		victim = reps[f.Replica%len(reps)].Name
		fault = faults.ReplicaCrash(s.Env.Cluster, r.c, victim)
		hit = []string{v.name}
	case soakPause:
		// A stalled node need not take a volume out of healthy (nothing
		// may reach it while it is stopped); every volume must still be
		// healthy again after it.
		victim = s.Env.Cluster.Nodes()[f.Target].Name
		fault = faults.Pause(s.Env.Cluster, victim, f.Down)
	case soakManagerRestart:
		victim = "manager"
		fault = faults.ManagerRestart(s.Env.Cluster)
	case soakDiskError:
		victim = s.Env.Cluster.Nodes()[f.Target].Name
		fault = faults.DiskError(s.Env.Cluster, victim, faults.DiskErrorOptions{})
		hit = r.replicasOn(ctx, victim)
	default:
		Fail("unknown soak fault kind " + f.Kind)
	}
	line := fmt.Sprintf("%6.1fs fault %d: %s %s", time.Since(r.start).Seconds(), f.N, f.Kind, victim)
	if f.Down > 0 {
		line += fmt.Sprintf(" for %v", f.Down)
	}
	since := time.Now()
	if err := s.Faults.Inject(ctx, fault); err != nil {
		// An engine between processes, a replica already going: the
		// system still has to recover, which is what is checked, but
		// nothing says it was hit.
		line += " (inject failed: " + err.Error() + ")"
		hit = nil
	}
	r.sum.fault(f.Kind, line)
	from := since // recovery counts from the fault, or from its end
	switch f.Kind {
	case soakNodeStop, soakDiskError:
		Expect(seedSleep(ctx, f.Down)).To(Succeed())
		from = time.Now()
	case soakPause:
		from = since.Add(f.Down) // Heal waits out the pause
	}
	hctx, cancel := context.WithTimeout(ctx, soakHealDeadline)
	err := s.Faults.Heal(hctx, fault)
	cancel()
	Expect(err).NotTo(HaveOccurred(), "heal fault %d (%s %s)", f.N, f.Kind, victim)
	// Every volume the fault hit must be seen out of attached/healthy: a
	// status from before the fault is not a recovery.
	outage := map[string]int{}
	for _, name := range hit {
		outage[name] = r.replicas(name)
	}
	what := fmt.Sprintf("recovery from fault %d (%s %s)", f.N, f.Kind, victim)
	awaitRecovery(ctx, s, what, outage, recovery{Since: since, Deadline: soakRecoveryDeadline, Outage: true})
	took := r.awaitHealthy(ctx, from, what, soakHold)
	r.sum.recovered(took)
	s.Env.progressf("     %s: %s: recovered in %v", s.Name, strings.TrimSpace(line), took.Round(time.Millisecond))
}

// volumesOn lists the volumes with a replica or their engine on node.
func (r *soakRun) volumesOn(ctx context.Context, node string) []string {
	return r.volumesWith(ctx, node, true)
}

// replicasOn lists the volumes with a replica on node.
func (r *soakRun) replicasOn(ctx context.Context, node string) []string {
	return r.volumesWith(ctx, node, false)
}

func (r *soakRun) volumesWith(ctx context.Context, node string, engines bool) []string {
	var out []string
	for _, v := range r.vols {
		on := engines && engineOf(ctx, r.s, v.name).Spec.Node == node
		reps, err := r.c.ListReplicas(ctx, v.name)
		Expect(err).NotTo(HaveOccurred())
		for _, x := range reps {
			on = on || (!x.Spec.Deleting && x.Spec.Node == node)
		}
		if on {
			out = append(out, v.name)
		}
	}
	return out
}

// replicas is the replica count of the soak's volume name.
func (r *soakRun) replicas(name string) int {
	for _, v := range r.vols {
		if v.name == name {
			return v.replicas
		}
	}
	return 0
}

// awaitHealthy waits until every volume is attached and healthy with
// every replica running RW, for hold, and returns how long after since
// that was reached.
func (r *soakRun) awaitHealthy(ctx context.Context, since time.Time, what string, hold time.Duration) time.Duration {
	replicas := map[string]int{}
	for _, v := range r.vols {
		replicas[v.name] = v.replicas
	}
	return awaitRecovery(ctx, r.s, what, replicas, recovery{Since: since, Deadline: soakRecoveryDeadline, Hold: hold})
}

// checkRound holds the writers, waits for every volume to be healthy,
// flushes and runs every checker, then lets the writers go on.
func (r *soakRun) checkRound(ctx context.Context, round, afterFault int) {
	s := r.s
	r.sum.round()
	start := time.Now()
	r.gate.hold()
	defer r.gate.release()
	// The fault before held its recovery for soakHold already.
	r.awaitHealthy(ctx, start, fmt.Sprintf("quiescent point %d", round), 0)
	integ := s.Integrity()
	var vs []checkers.Verdict
	for _, v := range r.vols {
		vs = append(vs, r.flush(ctx, v))
		vol, err := r.c.GetVolume(ctx, v.name)
		Expect(err).NotTo(HaveOccurred())
		conn := seedDial(ctx, s, vol.Status.Endpoint, time.Minute)
		hist, err := orphansUnknown(v.gen.History(), v.dev.Orphaned())
		Expect(err).NotTo(HaveOccurred())
		vs = append(vs,
			history.Checker{Recorder: s.Timeline}.Check(ctx, hist, conn),
			integ.ReplicasEqual(ctx, v.name),
			integ.ReadsDeterministic(ctx, conn, integrity.ReadOptions{K: 2 * v.replicas, Sample: soakReadSample, Seed: s.Seed + int64(round)}))
		conn.Close()
	}
	vs = append(vs, s.SpaceBounded(ctx, ""), s.NoOrphans(ctx))
	failed := 0
	for _, v := range vs {
		r.sum.check(v)
		if !v.Passed() {
			failed++
		}
	}
	r.sum.note(fmt.Sprintf("%6.1fs check round %d after fault %d: %d of %d checks passed", time.Since(r.start).Seconds(), round, afterFault, len(vs)-failed, len(vs)))
	s.Env.progressf("     %s: check round %d after fault %d: %d of %d checks passed (%v)", s.Name, round, afterFault, len(vs)-failed, len(vs), time.Since(start).Round(time.Millisecond))
	s.CheckAll(vs...)
}

// flush flushes a volume's writer at a quiescent point. The writer's
// connection may have died with a fault since its last request; the flush
// then reconnects. A flush that keeps failing on a healthy volume fails
// volume-writable.
func (r *soakRun) flush(ctx context.Context, v *soakVolume) checkers.Verdict {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = v.gen.Flush(ctx, v.dev); err == nil {
			return checkers.Verdict{Checker: volumeWritable, Outcome: checkers.Pass, At: time.Now(), Summary: "flush of " + v.name + " succeeded"}
		}
		if !errors.Is(err, nbd.ErrDisconnected) && !errors.Is(err, errNoFrontend) {
			break
		}
		Expect(seedSleep(ctx, time.Second)).To(Succeed())
	}
	vol, rw, n, _ := volumeReplicas(ctx, r.c, v.name)
	return checkers.Verdict{Checker: volumeWritable, Outcome: checkers.Fail, At: time.Now(),
		Summary: fmt.Sprintf("volume %s claimed %s while a flush failed with %v", v.name, recoveredView(vol.Status.State, vol.Status.Robustness, rw, n, false, false), err)}
}

// report adds the soak-summary verdict to the report and prints the
// summary; when the soak did not complete it prints the seed, the command
// that reproduces it and the schedule up to the failure.
func (r *soakRun) report() {
	s := r.s
	ran := time.Duration(0)
	if !r.start.IsZero() {
		ran = time.Since(r.start)
	}
	completed := r.completed && !CurrentSpecReport().Failed()
	v := r.sum.verdict(ran, completed)
	sched := r.sum.Schedule()
	v.Evidence = append(v.Evidence, checkers.Evidence{What: "schedule", Detail: strings.Join(sched, "\n")})
	s.Timeline.Add(timeline.Event{Time: v.At, Kind: timeline.KindChecker, Lane: "checkers", Name: v.Checker,
		Detail: map[string]string{"outcome": string(v.Outcome), "summary": v.Summary}})
	AddReportEntry(reports.EntryVerdict, v, ReportEntryVisibilityFailureOrVerbose)
	s.Env.progressf("     %s: %s", s.Name, v.Summary)
	for _, e := range r.sum.lines() {
		s.Env.progressf("     %s:   %-30s %s", s.Name, e.What, e.Actual)
	}
	if completed {
		return
	}
	s.Env.progressf("     %s: FAILED with seed %d; reproduce with: %s", s.Name, s.Seed, s.Env.Reproduce(s.Name))
	s.Env.progressf("     %s: schedule up to the failure:", s.Name)
	for _, l := range sched {
		s.Env.progressf("     %s:   %s", s.Name, l)
	}
}

// SoakCommand is the faultline soak command line that replays cfg's soak
// with seed.
func SoakCommand(cfg *Config, seed int64) string {
	sc := cfg.Soak.withDefaults()
	parts := []string{"faultline", "soak", "--duration", sc.Duration.String(), "--seed", strconv.FormatInt(seed, 10)}
	if sc.Volumes != DefaultSoakVolumes {
		parts = append(parts, "--volumes", strconv.Itoa(sc.Volumes))
	}
	if len(sc.FaultKinds) > 0 {
		parts = append(parts, "--fault-kinds", strings.Join(sc.FaultKinds, ","))
	}
	if sc.CheckEvery != 1 {
		parts = append(parts, "--check-every", strconv.Itoa(sc.CheckEvery))
	}
	if len(cfg.Defects) > 0 {
		parts = append(parts, "--defects", strings.Join(cfg.Defects, ","))
	}
	if cfg.Nodes > 0 && cfg.Nodes != 3 {
		parts = append(parts, "--nodes", strconv.Itoa(cfg.Nodes))
	}
	if cfg.DiskSize > 0 {
		parts = append(parts, "--disk-size", strconv.FormatInt(cfg.DiskSize, 10))
	}
	return strings.Join(parts, " ")
}
