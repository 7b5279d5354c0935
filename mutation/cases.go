// Package mutation proves that the seed scenarios catch the bugs they were
// written for. It runs every seed scenario twice, once against a clean
// refengine and once with the refengine defect switch that re-introduces
// the scenario's historical bug, and collects the outcomes in a matrix:
// every clean run must pass, and every defect run must fail through one of
// the generic checkers, not through a spec timeout.
//
// This package is the only place that pairs a scenario with a defect. The
// scenarios themselves never know which defect is on.
package mutation

// Case pairs a seed scenario with the defect switch of its bug.
type Case struct {
	Scenario string `json:"scenario"`
	Defect   string `json:"defect"`
	// Seed names the historical bug (reference/seed-bugs.md), or
	// "integrity" for the defects of issue 8.
	Seed string `json:"seed"`
	// Rate marks a defect that fires with a probability: its row measures
	// the scenario's detection rate (caught k/N), and a defect run that
	// passes is a miss to count, not a failure of the matrix. Its clean
	// runs are those of the scenario's first row.
	Rate bool `json:"rate,omitempty"`
	// Variant marks a widened scenario of a seed (another chain, topology
	// or fault path) held to the seed's own defect: a row of its own, not
	// the seed's one row.
	Variant bool `json:"variant,omitempty"`
}

// Cases is the mutation table, in catalogue order.
func Cases() []Case {
	return []Case{
		{Scenario: "instance-manager-restart-loop", Defect: "im-restart-stale-head-cache", Seed: "003"},
		// Seed 003's bug struck "in some cases": the same switch on one
		// reconstruction in ten, for the loop's detection rate.
		{Scenario: "instance-manager-restart-loop", Defect: "im-restart-stale-head-cache-intermittent", Seed: "003", Rate: true},
		// The replica-restart path inside a live instance manager, which
		// the real bug also took.
		{Scenario: "replica-crash-restart-loop", Defect: "im-restart-stale-head-cache", Seed: "003", Variant: true},
		{Scenario: "backing-image-replica-rebuild", Defect: "rebuild-bi-parent-by-full-name", Seed: "004"},
		// A smaller image under user snapshots with writes during the
		// rebuild, and a rebuild onto the other disk of the same node.
		{Scenario: "backing-image-rebuild-snapshots-under-writes", Defect: "rebuild-bi-parent-by-full-name", Seed: "004", Variant: true},
		{Scenario: "backing-image-rebuild-other-disk", Defect: "rebuild-bi-parent-by-full-name", Seed: "004", Variant: true},
		{Scenario: "engine-crash-during-live-upgrade", Defect: "upgrade-crash-loses-attachment", Seed: "002"},
		{Scenario: "dr-volume-node-restart-during-incremental-restore", Defect: "dr-restore-no-resume", Seed: "000"},
		{Scenario: "system-backup-restore-retains-data", Defect: "sysbackup-stale-last-backup", Seed: "001"},
		// Issue 8: defects found by outside testing, which the integrity
		// scenarios must now find by themselves.
		{Scenario: "engine-crash-under-write-load", Defect: "no-resync-after-crash", Seed: "integrity"},
		{Scenario: "rebuild-churn", Defect: "rebuild-snapshot-kept", Seed: "integrity"},
		{Scenario: "instance-manager-delete-during-rebuild", Defect: "rebuild-leftovers-kept", Seed: "integrity"},
	}
}
