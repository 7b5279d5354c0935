package mutation

import (
	"regexp"
	"testing"

	"github.com/faultline/faultline/scenarios"
)

// Every row of the table names a scenario faultline has (and that a
// default run selects), a well-formed defect switch, each defect once, and
// each (scenario, defect) pair once; a scenario's rate rows follow its
// first row, whose clean runs they share.
func TestCases(t *testing.T) {
	known := map[string]scenarios.Info{}
	for _, e := range scenarios.Catalogue() {
		known[e.Name] = e
	}
	defect := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	seenScenario, seenDefect := map[string]bool{}, map[string]bool{}
	for _, c := range Cases() {
		e, ok := known[c.Scenario]
		switch {
		case !ok:
			t.Errorf("case %+v: no such scenario", c)
		case e.Explicit:
			t.Errorf("case %+v: an explicit scenario cannot be a mutation row", c)
		case !defect.MatchString(c.Defect):
			t.Errorf("case %+v: defect is not a switch name", c)
		case c.Seed == "":
			t.Errorf("case %+v: no seed column", c)
		case seenDefect[c.Defect] && !c.Variant:
			t.Errorf("case %+v: defect listed twice (only a seed's variant shares its defect)", c)
		case c.Variant && !seenDefect[c.Defect]:
			t.Errorf("case %+v: a variant row needs its seed's row before it", c)
		case c.Variant && c.Rate:
			t.Errorf("case %+v: a variant row is not a rate row", c)
		case seenScenario[c.Scenario] && !c.Rate:
			t.Errorf("case %+v: a scenario's second row must be a rate row", c)
		case !seenScenario[c.Scenario] && c.Rate:
			t.Errorf("case %+v: a rate row needs the scenario's first row before it", c)
		}
		seenScenario[c.Scenario], seenDefect[c.Defect] = true, true
	}
	// One deterministic row per seed bug of reference/seed-bugs.md, 000
	// to 004.
	seeds := map[string]int{}
	for _, c := range Cases() {
		if c.Seed != "integrity" && !c.Rate && !c.Variant {
			seeds[c.Seed]++
		}
	}
	for _, s := range []string{"000", "001", "002", "003", "004"} {
		if seeds[s] != 1 {
			t.Errorf("seed %s: %d rows, want 1", s, seeds[s])
		}
	}
	if len(seeds) != 5 {
		t.Errorf("seed column holds %v, want 000 to 004 and integrity", seeds)
	}
	// The integrity rows of issue 8.
	for s, d := range map[string]string{
		"engine-crash-under-write-load":          "no-resync-after-crash",
		"rebuild-churn":                          "rebuild-snapshot-kept",
		"instance-manager-delete-during-rebuild": "rebuild-leftovers-kept",
	} {
		found := false
		for _, c := range Cases() {
			found = found || (c.Scenario == s && c.Defect == d && c.Seed == "integrity")
		}
		if !found {
			t.Errorf("no row (%s, %s, integrity)", s, d)
		}
	}
}
