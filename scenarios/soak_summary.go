package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/faultline/faultline/checkers"
)

// soakSummaryChecker is the name of the verdict that carries the summary.
const soakSummaryChecker = "soak-summary"

// soakSummary counts what a soak did: faults by kind, checker verdicts by
// checker and outcome, recovery times, and the schedule as it ran (with
// the names the victims resolved to), for the summary and for a reproducer.
type soakSummary struct {
	mu         sync.Mutex
	faults     map[string]int
	checks     map[string]map[checkers.Outcome]int
	recoveries []time.Duration
	schedule   []string
	rounds     int
}

func newSoakSummary() *soakSummary {
	return &soakSummary{faults: map[string]int{}, checks: map[string]map[checkers.Outcome]int{}}
}

// fault records an injected fault and its schedule line.
func (s *soakSummary) fault(kind, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[kind]++
	s.schedule = append(s.schedule, line)
}

// note appends a line to the schedule that is not a fault (a check round).
func (s *soakSummary) note(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedule = append(s.schedule, line)
}

func (s *soakSummary) check(v checkers.Verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checks[v.Checker] == nil {
		s.checks[v.Checker] = map[checkers.Outcome]int{}
	}
	s.checks[v.Checker][v.Outcome]++
}

func (s *soakSummary) round() {
	s.mu.Lock()
	s.rounds++
	s.mu.Unlock()
}

func (s *soakSummary) recovered(d time.Duration) {
	s.mu.Lock()
	s.recoveries = append(s.recoveries, d)
	s.mu.Unlock()
}

// Schedule returns the schedule lines so far.
func (s *soakSummary) Schedule() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.schedule)
}

// lines renders the summary: faults by kind, checks by checker, recoveries.
func (s *soakSummary) lines() []checkers.Evidence {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []checkers.Evidence
	total := 0
	for _, k := range slices.Sorted(maps.Keys(s.faults)) {
		total += s.faults[k]
		out = append(out, checkers.Evidence{What: "faults " + k, Actual: fmt.Sprint(s.faults[k])})
	}
	out = append(out, checkers.Evidence{What: "faults total", Actual: fmt.Sprint(total)})
	out = append(out, checkers.Evidence{What: "check rounds", Actual: fmt.Sprint(s.rounds)})
	for _, c := range slices.Sorted(maps.Keys(s.checks)) {
		n := s.checks[c]
		out = append(out, checkers.Evidence{What: "checks " + c,
			Actual: fmt.Sprintf("%d pass, %d fail, %d unknown", n[checkers.Pass], n[checkers.Fail], n[checkers.Unknown])})
	}
	out = append(out, checkers.Evidence{What: "recoveries", Actual: recoveryStats(s.recoveries)})
	return out
}

// recoveryStats is "count N, median M, max X".
func recoveryStats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "count 0"
	}
	sorted := slices.Sorted(slices.Values(ds))
	return fmt.Sprintf("count %d, median %v, max %v", len(sorted),
		sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
}

// verdict is the soak-summary verdict: a pass when the soak ran its
// course and every check passed; otherwise a fail that says where it
// stopped (the failing checker's own verdict comes first in the report).
func (s *soakSummary) verdict(ran time.Duration, completed bool) checkers.Verdict {
	ev := s.lines()
	s.mu.Lock()
	faults, notPassed := 0, 0
	for _, n := range s.faults {
		faults += n
	}
	for _, n := range s.checks {
		notPassed += n[checkers.Fail] + n[checkers.Unknown]
	}
	rounds := s.rounds
	s.mu.Unlock()
	v := checkers.Verdict{Checker: soakSummaryChecker, Outcome: checkers.Pass, At: time.Now(), Evidence: ev,
		Summary: fmt.Sprintf("%v of soak: %d faults, %d check rounds, every check passed", ran.Round(time.Second), faults, rounds)}
	if !completed || notPassed > 0 {
		v.Outcome = checkers.Fail
		v.Summary = fmt.Sprintf("soak stopped after %v: %d faults, %d check rounds, %d checks not passed", ran.Round(time.Second), faults, rounds, notPassed)
	}
	return v
}
