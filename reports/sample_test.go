package reports

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// hostile is text that must be escaped everywhere it is shown.
const hostile = "<script>alert(\"x\")</script> & 'q' \x01\x07bell\x1b[31m"

var sampleT0 = time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)

// sampleRun builds a run shaped like a real one: a passing smoke scenario,
// a failing 50-iteration instance-manager loop with thousands of timeline
// events, a skipped scenario with a hostile name and an interrupted one.
func sampleRun() Run {
	rng := newRand()
	r := Run{
		Format:   FormatVersion,
		ID:       "20261121-220000-a1b2",
		Started:  sampleT0,
		Finished: sampleT0.Add(11 * time.Minute),
		Command:  "faultline run --cluster local --seed 424242 --defects im-restart-stale-head-cache",
		Seed:     424242,
		Defects:  []string{"im-restart-stale-head-cache"},
		Versions: Versions{Faultline: "v0.1.0-dev", Refengine: "v0.1.0-dev", Go: "go1.26.8", OS: "linux/amd64"},
		Cluster:  "local",
	}
	r.Scenarios = append(r.Scenarios, smokeScenario(), loopScenario(rng), Scenario{
		Name:      hostile,
		Labels:    []string{"seed", hostile},
		State:     StateSkipped,
		Start:     sampleT0.Add(10 * time.Minute),
		End:       sampleT0.Add(10 * time.Minute),
		Failure:   &Failure{Message: "skipped: " + hostile},
		Seed:      424242,
		Reproduce: "faultline run --focus '" + hostile + "'",
	}, Scenario{
		Name:      "engine-crash-during-live-upgrade",
		Labels:    []string{"seed", "upgrade"},
		State:     StateInterrupted,
		Start:     sampleT0.Add(10 * time.Minute),
		End:       sampleT0.Add(11 * time.Minute),
		Failure:   &Failure{Message: "interrupted by user (SIGINT)"},
		Seed:      424242,
		Reproduce: "faultline run --label-filter upgrade --seed 424242",
	})
	r.Recount()
	return r
}

func smokeScenario() Scenario {
	t0 := sampleT0
	var ev []timeline.Event
	step := func(d time.Duration, name string) {
		ev = append(ev, timeline.Event{Time: t0.Add(d), Kind: timeline.KindStep, Name: name})
	}
	state := func(d time.Duration, lane, s string) {
		ev = append(ev, timeline.Event{Time: t0.Add(d), Kind: timeline.KindState, Lane: lane, Name: s})
	}
	step(0, "create volume smoke-1")
	state(100*time.Millisecond, "volume smoke-1", "creating")
	state(900*time.Millisecond, "volume smoke-1", "detached")
	step(time.Second, "attach")
	state(1200*time.Millisecond, "volume smoke-1", "attaching")
	state(2*time.Second, "volume smoke-1", "attached/healthy")
	state(2*time.Second, "replica smoke-1-r-a", "RW")
	step(2500*time.Millisecond, "write 16 MiB and flush")
	for i := range 40 {
		ev = append(ev, timeline.Event{Time: t0.Add(2500*time.Millisecond + time.Duration(i)*100*time.Millisecond),
			Kind: timeline.KindWorkload, Lane: "workload", Name: "write ok", Detail: map[string]string{"count": "8"}})
	}
	step(7*time.Second, "read back and checksum")
	step(9*time.Second, "detach and delete")
	state(9500*time.Millisecond, "volume smoke-1", "detaching")
	state(10*time.Second, "volume smoke-1", "deleting")
	return Scenario{
		Name:   "smoke creates, writes, reads back and deletes a volume",
		Labels: []string{"smoke", "v2"},
		State:  StatePassed,
		Start:  t0,
		End:    t0.Add(10500 * time.Millisecond),
		Seed:   424242,
		Verdicts: []checkers.Verdict{{Checker: "checksum", Outcome: checkers.Pass,
			Summary: "digest stable over 3 reads: sha256 9f2c…", At: t0.Add(8 * time.Second)}},
		Timeline:  ev,
		Reproduce: "faultline run --label-filter smoke --seed 424242",
	}
}

func loopScenario(rng *rand.Rand) Scenario {
	t0 := sampleT0.Add(11 * time.Second)
	var ev []timeline.Event
	add := func(e timeline.Event) { ev = append(ev, e) }
	at := t0
	add(timeline.Event{Time: at, Kind: timeline.KindStep, Name: "create 1-replica volume, attach, write and flush"})
	add(timeline.Event{Time: at, Kind: timeline.KindState, Lane: "volume im-loop", Name: "attached/healthy"})
	add(timeline.Event{Time: at, Kind: timeline.KindState, Lane: "replica im-loop-r-x1", Name: "RW"})
	add(timeline.Event{Time: at, Kind: timeline.KindState, Lane: "node-2 instance manager", Name: "running"})
	at = at.Add(5 * time.Second)
	for i := range 50 {
		add(timeline.Event{Time: at, Kind: timeline.KindStep, Name: fmt.Sprintf("iteration %d: delete instance manager of node-2", i+1)})
		down := time.Duration(2000+rng.IntN(4000)) * time.Millisecond
		add(timeline.Event{Time: at, End: at.Add(down), Kind: timeline.KindFault, Lane: "im-delete", Name: "im-delete",
			Detail: map[string]string{"node": "node-2", "iteration": fmt.Sprint(i + 1), "executor": "chaos-mesh",
				"chaos_object": fmt.Sprintf("PodChaos/refengine-system/faultline-pod-kill-node-2-%d", i+1)}})
		add(timeline.Event{Time: at.Add(10 * time.Millisecond), Kind: timeline.KindLog, Lane: "node-2", Name: "instance manager deleted"})
		add(timeline.Event{Time: at.Add(down - 100*time.Millisecond), Kind: timeline.KindLog, Lane: "node-2", Name: "restarted"})
		add(timeline.Event{Time: at.Add(50 * time.Millisecond), Kind: timeline.KindState, Lane: "node-2 instance manager", Name: "stopped"})
		add(timeline.Event{Time: at.Add(down), Kind: timeline.KindState, Lane: "node-2 instance manager", Name: "running"})
		add(timeline.Event{Time: at.Add(100 * time.Millisecond), Kind: timeline.KindState, Lane: "volume im-loop", Name: "attached/faulted"})
		add(timeline.Event{Time: at.Add(150 * time.Millisecond), Kind: timeline.KindState, Lane: "replica im-loop-r-x1", Name: "ERR"})
		if i >= 37 { // the defect: the replica crash-loops from here on
			for k := range 30 {
				s := "ERR"
				if k%2 == 0 {
					s = "starting"
				}
				add(timeline.Event{Time: at.Add(down + time.Duration(k)*40*time.Millisecond), Kind: timeline.KindState, Lane: "replica im-loop-r-x1", Name: s})
			}
			add(timeline.Event{Time: at.Add(down + 1300*time.Millisecond), Kind: timeline.KindState, Lane: "volume im-loop", Name: "attached/faulted"})
		} else {
			add(timeline.Event{Time: at.Add(down + 300*time.Millisecond), Kind: timeline.KindState, Lane: "replica im-loop-r-x1", Name: "RW"})
			add(timeline.Event{Time: at.Add(down + 400*time.Millisecond), Kind: timeline.KindState, Lane: "volume im-loop", Name: "attached/healthy"})
		}
		// The workload generator's convention: one event per window with
		// ok/failed/unknown counts.
		for k := range 10 {
			from, to := at.Add(time.Duration(k)*time.Second), at.Add(time.Duration(k+1)*time.Second)
			d := map[string]string{"writes": "40", "ok": fmt.Sprint(30 + rng.IntN(10)), "failed": "0", "unknown": "0"}
			if from.Before(at.Add(down)) {
				d["ok"], d["failed"], d["unknown"] = "2", fmt.Sprint(rng.IntN(20)), fmt.Sprint(rng.IntN(4))
			}
			add(timeline.Event{Time: from, End: to, Kind: timeline.KindWorkload, Lane: "workload/im-loop", Name: "writes", Detail: d})
		}
		// checkers.Record's convention: Lane checker/<name>, Name = outcome.
		add(timeline.Event{Time: at.Add(down + 2*time.Second), Kind: timeline.KindChecker, Lane: "checker/checksum", Name: "pass",
			Detail: map[string]string{"summary": "digest equal to recorded"}})
		at = at.Add(down + 6*time.Second)
	}
	add(timeline.Event{Time: at, Kind: timeline.KindLog, Lane: "manager", Name: "volume im-loop faulted"})
	off := int64(4 << 20)
	var lost []checkers.Evidence
	for i := range 230 {
		o := off + int64(i)*4096
		lost = append(lost, checkers.Evidence{What: "lost write", Offset: &o,
			Expected: fmt.Sprintf("write #%d gen 38", 9000+i), Actual: fmt.Sprintf("write #%d gen 37", 8000+i)})
	}
	var logs strings.Builder
	for i := range 60 {
		fmt.Fprintf(&logs, "2026-11-21T22:09:%02dZ ERROR replica im-loop-r-x1: create head lvol: bdev_lvol_create: -17 File exists (attempt %d)\n", i%60, i+1)
	}
	return Scenario{
		Name:   "instance-manager-restart-loop keeps data across 50 instance-manager deletions",
		Labels: []string{"seed", "v2", "nightly"},
		State:  StateFailed,
		Start:  t0,
		End:    at.Add(2 * time.Second),
		Failure: &Failure{Message: "volume im-loop did not become attached/healthy within 2m0s at iteration 38\n" +
			"Expected\n    <string>: attached/faulted\nto equal\n    <string>: attached/healthy",
			Location: "scenarios/im_restart_loop.go:88"},
		Seed: 424242,
		Verdicts: []checkers.Verdict{
			{Checker: "state", Outcome: checkers.Fail, Summary: "crash loop: replica im-loop-r-x1 flapped 390 times in 13 iterations",
				Evidence: []checkers.Evidence{{What: "flapping state", Detail: "ERR ⇄ starting, 30 changes in 1.2s"}},
				Diff:     "  api.Volume{\n  \tName:       \"im-loop\",\n- \tRobustness: \"healthy\",\n+ \tRobustness: \"faulted\",\n  }\n",
				At:       at},
			{Checker: "history", Outcome: checkers.Fail, Summary: "230 lost writes", Evidence: lost, At: at.Add(time.Second)},
			{Checker: "checksum", Outcome: checkers.Unknown, Summary: "frontend unreadable: volume faulted", At: at.Add(time.Second)},
		},
		Timeline: ev,
		Faults:   FaultsOf(ev),
		LogTails: map[string]string{
			"node-2":  logs.String(),
			"manager": "22:09:58 WARN volume im-loop robustness faulted\n" + hostile,
		},
		Artifacts: []string{"logs/node-2.log", "logs/manager.log", "https://evil.example/x.js", "../../etc/passwd"},
		Reproduce: "faultline run --label-filter 'seed' --focus instance-manager-restart-loop --seed 424242 --defects im-restart-stale-head-cache",
	}
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
