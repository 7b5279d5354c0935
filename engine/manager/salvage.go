package manager

import (
	"cmp"
	"slices"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// SalvageWindow is how close to the last failure a replica must have failed
// to be revived by auto-salvage.
const SalvageWindow = time.Minute

// salvageCandidates picks the failed replicas auto-salvage may revive when
// no replica of a volume is usable: those on up nodes that were healthy
// once (unless none ever was), failed within SalvageWindow of the latest
// failure, and hold the newest data: RW until they failed rather than
// restarted and not yet rebuilt, then the highest write-intent event
// count, then revision. A stale replica is never revived over a fresher
// one.
func salvageCandidates(reps []api.Replica, nodeUp func(string) bool) []api.Replica {
	// A volume none of whose replicas was ever healthy holds no data yet
	// (it failed on its first attach): any failed replica will do.
	everHealthy := false
	for _, r := range reps {
		everHealthy = everHealthy || !r.Status.HealthyAt.IsZero()
	}
	var failed []api.Replica
	var latest time.Time
	for _, r := range reps {
		if r.Spec.Deleting || r.Status.FailedAt.IsZero() || (everHealthy && r.Status.HealthyAt.IsZero()) || !nodeUp(r.Spec.Node) {
			continue
		}
		failed = append(failed, r)
		if r.Status.FailedAt.After(latest) {
			latest = r.Status.FailedAt
		}
	}
	var recent []api.Replica
	for _, r := range failed {
		if latest.Sub(r.Status.FailedAt) <= SalvageWindow {
			recent = append(recent, r)
		}
	}
	if len(recent) == 0 {
		return nil
	}
	// The write-intent event count first: it is raised on the surviving
	// replicas before any write a failed one lacks is acknowledged, while
	// revisions are raised on a poll and can still be equal when the
	// others fail soon after. The revision breaks ties (replicas without
	// a bitmap).
	//
	// Before both, whether the replica was RW when it failed. One
	// restarted in place after an earlier failure (RestartedAt, cleared
	// when it turns RW) was still being rebuilt: it lacks what it missed
	// and the rebuild had not copied yet, whatever counts were last read
	// (its bitmap's header reports it rebuilding, but a node that did not
	// answer the refresh leaves the others' counts as old as its own).
	rebuilt := func(r api.Replica) int {
		if r.Status.RestartedAt.IsZero() {
			return 1
		}
		return 0
	}
	newer := func(a, b api.Replica) int {
		if c := cmp.Compare(rebuilt(a), rebuilt(b)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Status.IntentEvents, b.Status.IntentEvents); c != 0 {
			return c
		}
		return cmp.Compare(a.Status.Revision, b.Status.Revision)
	}
	pick := slices.MaxFunc(recent, newer)
	var out []api.Replica
	for _, r := range recent {
		if newer(r, pick) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// robustness derives a volume's robustness from its replicas' modes: RW
// replicas ≥ wanted → healthy, some → degraded, none → faulted.
func robustness(rw, wanted int) string {
	switch {
	case rw >= wanted:
		return api.RobustnessHealthy
	case rw > 0:
		return api.RobustnessDegraded
	}
	return api.RobustnessFaulted
}
