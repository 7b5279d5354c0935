package scenarios

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/kind"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/timeline"
)

// Env is the suite's shared environment: the cluster and the run seed.
type Env struct {
	cfg     *Config
	Seed    int64
	Cluster cluster.Driver
	started time.Time

	mu         sync.Mutex
	owned      ownedCluster // started by this suite (Down in AfterSuite)
	s3         s3Endpoints  // S3 endpoints started for backup targets, reused by every spec
	setupErr   error
	failed     bool   // a spec failed: keep the disks for forensics
	refengine  string // the manager's reported version, for run.json
	kubernetes string // the API server's version on kind, for run.json
}

// SetupError is the error that kept the suite from bringing its cluster up,
// or nil. The CLI turns it into exit status 2 ("could not run").
func (e *Env) SetupError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.setupErr
}

// Register declares the suite nodes and every scenario's specs on Ginkgo's
// global suite. Call it once per process, before RunSpecs.
func Register(cfg *Config) *Env {
	if cfg.Seed == 0 {
		cfg.Seed = pickSeed()
	}
	RegisterFailHandler(Fail)
	env := &Env{cfg: cfg, Seed: cfg.Seed, started: time.Now()}
	env.progressf("seed %d (rerun with --seed %d)", env.Seed, env.Seed)

	BeforeSuite(env.setup, NodeTimeout(3*time.Minute))
	AfterSuite(env.teardown, NodeTimeout(orphanDeadline+2*time.Minute))
	ReportBeforeEach(func(r SpecReport) {
		if r.LeafNodeType == types.NodeTypeIt && !r.State.Is(types.SpecStateSkipped|types.SpecStatePending) {
			env.progressf("RUN  %s", r.FullText())
		}
	})
	ReportAfterEach(func(r SpecReport) {
		if r.LeafNodeType != types.NodeTypeIt {
			return
		}
		word := resultWord(r.State)
		if word == "fail" {
			env.mu.Lock()
			env.failed = true
			env.mu.Unlock()
		}
		env.progressf("%-4s %s (%s)", strings.ToUpper(word), r.FullText(), r.RunTime.Round(10*time.Millisecond))
	})
	ReportAfterSuite("faultline report", env.writeReport)

	// One It per scenario, named by the scenario alone, so report rows,
	// focus expressions and reproduce commands all use the same name.
	for _, sc := range all() {
		timeout := sc.Timeout
		if sc.timeoutOf != nil {
			timeout = sc.timeoutOf(cfg)
		}
		It(sc.Name, Label(sc.Labels...), SpecTimeout(timeout), func(ctx SpecContext) {
			sc.Body(ctx, env.newSpec(sc))
		})
	}
	return env
}

func resultWord(s types.SpecState) string {
	switch {
	case s.Is(types.SpecStatePassed):
		return "pass"
	case s.Is(types.SpecStateSkipped | types.SpecStatePending):
		return "skip"
	default:
		return "fail"
	}
}

func (e *Env) progressf(format string, args ...any) {
	if e.cfg.Progress == nil {
		return
	}
	el := time.Since(e.started).Seconds()
	fmt.Fprintf(e.cfg.Progress, "[%7.1fs] %s\n", el, fmt.Sprintf(format, args...))
}

// setup brings the cluster up, or attaches to the one named by ClusterDir.
func (e *Env) setup(ctx SpecContext) {
	d, err := e.startCluster(ctx)
	e.mu.Lock()
	e.setupErr = err
	e.mu.Unlock()
	if err != nil {
		if e.cfg.SkipWithoutCluster && (errors.Is(err, local.ErrNoManager) || errors.Is(err, local.ErrNoNode)) {
			Skip("refengine cannot run a cluster yet (" + err.Error() + "): scenarios skipped")
		}
		if d != nil {
			attachLogs(d)
		}
		Fail("cluster could not start: " + err.Error())
	}
	e.Cluster = d
	if c, err := cluster.ManagerClient(d); err == nil {
		if v, err := c.Version(ctx); err == nil {
			e.mu.Lock()
			e.refengine = v.Version
			e.mu.Unlock()
		}
	}
}

// ownedCluster is a cluster this suite started and stops.
type ownedCluster interface {
	cluster.Driver
	Dir() string
	RemoveDisks() error
}

func (e *Env) startCluster(ctx context.Context) (cluster.Driver, error) {
	if e.cfg.ClusterKind == "kind" {
		return e.startKind(ctx)
	}
	if e.cfg.ClusterDir != "" {
		e.progressf("using the cluster in %s", e.cfg.ClusterDir)
		e.progressf("its manager keeps the restore rate limit it was started with (faultline cluster up --restore-rate-limit)")
		d, err := local.Attach(ctx, e.cfg.ClusterDir)
		if err != nil {
			return nil, fmt.Errorf("attach to cluster %s: %w", e.cfg.ClusterDir, err)
		}
		return d, nil
	}
	dir := filepath.Join(e.cfg.OutDir, "cluster")
	if e.cfg.OutDir == "" {
		dir = filepath.Join(GinkgoT().TempDir(), "cluster")
	}
	d, err := local.New(local.Config{Dir: dir, Refengine: e.cfg.Refengine, Nodes: e.cfg.Nodes, DiskSize: e.cfg.DiskSize, DisksPerNode: e.cfg.DisksPerNode,
		Defects: e.cfg.Defects, KeepProcesses: e.cfg.KeepCluster, RestoreRateLimit: e.cfg.restoreRateLimit()})
	if err != nil {
		return nil, err
	}
	e.progressf("starting a local cluster in %s", dir)
	if err := d.Up(ctx); err != nil {
		return d, err
	}
	e.mu.Lock()
	e.owned = d
	e.mu.Unlock()
	st, _ := d.Status(ctx)
	e.progressf("cluster up: manager %s, %d nodes, %d disks each", d.ManagerURL(), len(st.Nodes), max(e.cfg.DisksPerNode, 1))
	return d, nil
}

// teardown checks, once for the whole run, that nothing was left on the
// disks, then stops the cluster it started. A failed check fails the
// suite after the cluster is down (its disks are kept for forensics).
func (e *Env) teardown(ctx SpecContext) {
	var final *checkers.Verdict
	if e.Cluster != nil && e.SetupError() == nil {
		v := e.noOrphansAtEnd(ctx)
		final = &v
	}
	e.stopCluster(ctx, final != nil && !final.Passed())
	if final != nil && !final.Passed() {
		Fail(fmt.Sprintf("checker %s at the end of the run: %s", final.Checker, final.Summary))
	}
}

// noOrphansAtEnd runs no-orphans over the whole cluster (Eventually) and
// adds the verdict to the suite's report.
func (e *Env) noOrphansAtEnd(ctx context.Context) checkers.Verdict {
	var v checkers.Verdict
	c, err := cluster.ManagerClient(e.Cluster)
	if err != nil {
		v = checkers.Verdict{Checker: integrity.NameNoOrphans, Outcome: checkers.Unknown, Summary: "manager client: " + err.Error()}
	} else {
		v = integrity.Eventually(ctx, orphanDeadline, integrityInterval, integrity.Checker{API: c, Credential: cluster.CredentialOf(e.Cluster)}.CheckNoOrphans)
	}
	v.At = time.Now()
	AddReportEntry(reports.EntryVerdict, v, ReportEntryVisibilityFailureOrVerbose)
	e.progressf("%-4s no-orphans at the end of the run: %s", strings.ToUpper(string(v.Outcome)), v.Summary)
	return v
}

// stopCluster stops the cluster the suite started; keepDisks keeps the
// node disks even when every spec passed.
func (e *Env) stopCluster(ctx context.Context, keepDisks bool) {
	e.mu.Lock()
	d := e.owned
	e.mu.Unlock()
	if d == nil {
		return
	}
	e.mu.Lock()
	failed := e.failed || keepDisks || CurrentSpecReport().Failed()
	e.mu.Unlock()
	if k, ok := d.(*kind.Driver); ok {
		e.stopKind(ctx, k, failed)
		return
	}
	l := d.(*local.Driver)
	if e.cfg.KeepCluster {
		e.progressf("keeping the cluster in %s (stop it with: faultline cluster down --dir %s)", l.Dir(), l.Dir())
		Expect(l.Detach()).To(Succeed())
		return
	}
	Expect(d.Down(ctx)).To(Succeed())
	e.progressf("cluster down")
	if !failed {
		// Passed runs keep logs and state, not gigabytes of disk files.
		Expect(d.RemoveDisks()).To(Succeed())
	}
}

// attachLogs adds the tail of every process log as a report entry.
func attachLogs(d cluster.Driver) {
	logs, err := d.Logs(context.Background())
	if err != nil {
		return
	}
	tails := map[string]string{}
	for name := range logs {
		if t, err := d.LogTail(name, reports.LogTailLines); err == nil {
			tails[name] = t
		}
	}
	AddReportEntry(reports.EntryLogs, tails, ReportEntryVisibilityNever)
}

// Spec is what a scenario body works with: the cluster, a timeline of its
// own, a fault injector seeded by the run seed, and helpers that record
// steps and verdicts.
type Spec struct {
	Env      *Env
	Name     string
	Seed     int64
	Rand     *rand.Rand
	Timeline *timeline.Recorder
	Faults   *faults.Injector
	// States holds every volume, replica and engine state the manager's
	// change stream reported during the spec (also drawn on Timeline).
	States *state.Tracker

	start     time.Time
	stopWatch context.CancelFunc
	mu        sync.Mutex
	endStep   func()
}

// newSpec prepares a spec and registers its cleanup: faults are healed
// first, then the timeline, verdicts and (on failure) log tails are
// attached (DeferCleanup runs last-registered first).
func (e *Env) newSpec(sc scenario) *Spec {
	Expect(e.Cluster).NotTo(BeNil(), "no cluster: suite setup failed")
	rec := timeline.NewRecorder()
	s := &Spec{
		Env: e, Name: sc.Name, Seed: e.Seed,
		Rand:     rand.New(rand.NewSource(e.Seed)),
		Timeline: rec,
		Faults:   faults.NewInjector(rec, e.Seed, nil),
		start:    time.Now(),
		States:   state.NewTracker(rec),
	}
	watchCtx, stop := context.WithCancel(context.Background())
	s.stopWatch = stop
	if c, err := cluster.ManagerClient(e.Cluster); err == nil {
		go watchState(watchCtx, c, s.States)
	}
	if r := CurrentSpecReport(); r.MaxMustPassRepeatedly > 1 {
		e.progressf("     %s: attempt %d of %d", sc.Name, r.NumAttempts, r.MaxMustPassRepeatedly)
	}
	AddReportEntry(reports.EntrySeed, e.Seed, ReportEntryVisibilityFailureOrVerbose)
	AddReportEntry(reports.EntryReproduce, e.Reproduce(sc.Name), ReportEntryVisibilityFailureOrVerbose)
	DeferCleanup(s.finish)
	// Runs after the scenario's own cleanups (which delete its volumes)
	// and after the faults are healed: whatever the scenario leaves on the
	// disks must be gone within orphanDeadline.
	DeferCleanup(func(ctx SpecContext) {
		if r := CurrentSpecReport(); r.Failed() || r.State.Is(types.SpecStateSkipped) {
			return // the scenario failed already (orphans would only add noise), or never ran
		}
		s.Step("no orphans left behind")
		s.Check(s.NoOrphans(ctx))
	}, NodeTimeout(orphanDeadline+time.Minute))
	DeferCleanup(func(ctx SpecContext) {
		s.Step("heal faults")
		Expect(s.Faults.HealAll(ctx)).To(Succeed(), "heal faults in cleanup")
	}, NodeTimeout(2*time.Minute))
	return s
}

// Step marks a step: a Ginkgo By, a window on the spec's timeline that
// lasts until the next step, and a progress line.
func (s *Spec) Step(text string) {
	By(text)
	s.mu.Lock()
	if s.endStep != nil {
		s.endStep()
	}
	s.endStep = s.Timeline.Begin(timeline.KindStep, "steps", text, nil)
	s.mu.Unlock()
	s.Env.progressf("     %s: %s", s.Name, text)
}

// Check records a checker verdict on the timeline and in the report, and
// fails the spec when it did not pass.
func (s *Spec) Check(v checkers.Verdict) {
	if v.At.IsZero() {
		v.At = time.Now()
	}
	s.Timeline.Add(timeline.Event{Time: v.At, Kind: timeline.KindChecker, Lane: "checkers", Name: v.Checker,
		Detail: map[string]string{"outcome": string(v.Outcome), "summary": v.Summary}})
	AddReportEntry(reports.EntryVerdict, v, ReportEntryVisibilityFailureOrVerbose)
	Expect(v.Outcome).To(Equal(checkers.Pass), "checker %s: %s", v.Checker, v.Summary)
}

// CheckAll is Check for a batch of verdicts taken together (the checks
// of one quiescent point): every verdict that did not pass goes into the
// report and on the timeline before the spec fails with the first of them,
// so one report shows everything that round found. Passing verdicts are
// left to the recorder each checker was given.
func (s *Spec) CheckAll(vs ...checkers.Verdict) {
	var first *checkers.Verdict
	for i := range vs {
		v := &vs[i]
		if v.Passed() {
			continue
		}
		if v.At.IsZero() {
			v.At = time.Now()
		}
		s.Timeline.Add(timeline.Event{Time: v.At, Kind: timeline.KindChecker, Lane: "checkers", Name: v.Checker,
			Detail: map[string]string{"outcome": string(v.Outcome), "summary": v.Summary}})
		AddReportEntry(reports.EntryVerdict, *v, ReportEntryVisibilityFailureOrVerbose)
		if first == nil {
			first = v
		}
	}
	if first != nil {
		Fail(fmt.Sprintf("checker %s: %s", first.Checker, first.Summary))
	}
}

// finish closes the last step and attaches the timeline (with the
// cluster's process events of the spec's time span) and, on failure, the
// log tails.
func (s *Spec) finish() {
	s.stopWatch()
	s.mu.Lock()
	if s.endStep != nil {
		s.endStep()
		s.endStep = nil
	}
	s.mu.Unlock()
	events := s.Timeline.Events()
	if tl, ok := s.Env.Cluster.(interface{ Timeline() *timeline.Recorder }); ok {
		for _, ev := range tl.Timeline().Events() {
			if !ev.Time.Before(s.start) {
				events = append(events, ev)
			}
		}
	}
	AddReportEntry(reports.EntryTimeline, events, ReportEntryVisibilityNever)
	if CurrentSpecReport().Failed() {
		attachLogs(s.Env.Cluster)
	}
}

// Reproduce is the command that reruns one scenario with this run's seed.
func (e *Env) Reproduce(name string) string {
	if name == soakName {
		return SoakCommand(e.cfg, e.Seed) + RunParams(e.cfg)
	}
	parts := []string{"faultline", "run", "--scenario", name, "--seed", strconv.FormatInt(e.Seed, 10)}
	if len(e.cfg.Defects) > 0 {
		parts = append(parts, "--defects", strings.Join(e.cfg.Defects, ","))
	}
	if e.cfg.Iterations > 0 {
		parts = append(parts, "--iterations", strconv.Itoa(e.cfg.Iterations))
	}
	if e.cfg.Nodes > 0 && e.cfg.Nodes != 3 {
		parts = append(parts, "--nodes", strconv.Itoa(e.cfg.Nodes))
	}
	if e.cfg.DiskSize > 0 {
		parts = append(parts, "--disk-size", strconv.FormatInt(e.cfg.DiskSize, 10))
	}
	if e.cfg.DisksPerNode > 1 {
		parts = append(parts, "--disks-per-node", strconv.Itoa(e.cfg.DisksPerNode))
	}
	return strings.Join(parts, " ") + RunParams(e.cfg)
}

// FocusFor returns the Ginkgo focus regexp that selects scenario name.
// Ginkgo matches focus against "<suite description> <spec text>", and a
// scenario's spec text is its name alone.
func FocusFor(name string) string {
	return " " + regexp.QuoteMeta(name) + "$"
}

func (e *Env) clusterKind() string {
	if e.cfg.ClusterKind == "" {
		return "local"
	}
	return e.cfg.ClusterKind
}

func (e *Env) refengineVersion() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refengine
}

// writeReport converts Ginkgo's report and writes the report directory.
func (e *Env) writeReport(r Report) {
	meta := reports.RunMeta{
		ID:       filepath.Base(e.cfg.OutDir),
		Command:  e.cfg.Command,
		Seed:     e.Seed,
		Defects:  e.cfg.Defects,
		Versions: reports.HostVersions(e.cfg.FaultlineVersion, e.refengineVersion()),
		Cluster:  e.clusterKind(),
	}
	e.mu.Lock()
	meta.Versions.Kubernetes = e.kubernetes
	e.mu.Unlock()
	if meta.Command == "" {
		meta.Command = "faultline run --seed " + strconv.FormatInt(e.Seed, 10)
	}
	run := reports.FromGinkgo(r, meta)
	var err error
	if e.cfg.OutDir != "" {
		err = reports.WriteAll(e.cfg.OutDir, run, r)
		if err == nil {
			e.progressf("report written to %s", e.cfg.OutDir)
		}
	}
	if e.cfg.OnReport != nil {
		e.cfg.OnReport(run, err)
	}
}
