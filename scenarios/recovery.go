package scenarios

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// recovery is what counts as recovered after a fault: every volume
// attached and healthy with all its replicas running RW, for Hold without
// a break, by Deadline after Since.
type recovery struct {
	Since    time.Time
	Deadline time.Duration
	Hold     time.Duration
	// Outage: each volume must also have been seen leaving
	// attached/healthy since Since, so a status from before the fault
	// does not count.
	Outage bool
	// Rebuilt: one of each volume's replicas must have been seen
	// rebuilding (mode WO) since Since.
	Rebuilt bool
}

// awaitRecovery waits until every volume in replicas (volume name →
// replica count) has recovered as r says, failing the spec through
// state-crashloop at once when a resource flaps and state-converge at the
// deadline, with the per-volume diff. It returns how long after r.Since
// the recovered state was reached (the hold that followed not counted):
// the last state change the change stream reported for the volumes, their
// replicas and engines, which is exact even when the outage fell between
// two polls; the first poll that saw it when the stream reported nothing.
func awaitRecovery(ctx context.Context, s *Spec, what string, replicas map[string]int, r recovery) time.Duration {
	c := s.Client()
	want := map[string]string{}
	for name, n := range replicas {
		want[name] = recoveredView(api.VolumeAttached, api.RobustnessHealthy, n, n, r.Outage, r.Rebuilt)
	}
	var reached time.Time
	seedCheckQuiet(s, seedAwaitHeld(ctx, s, what, r.Since, r.Deadline, r.Hold, func(ctx context.Context) (map[string]string, error) {
		got := map[string]string{}
		samples := s.States.Samples()
		for name := range replicas {
			vol, rw, n, err := volumeReplicas(ctx, c, name)
			if err != nil {
				return nil, err
			}
			got[name] = recoveredView(vol.Status.State, vol.Status.Robustness, rw, n,
				r.Outage && sawOutage(samples, name, r.Since), r.Rebuilt && sawRebuild(samples, name, r.Since))
		}
		switch {
		case !maps.Equal(got, want):
			reached = time.Time{}
		case reached.IsZero():
			reached = time.Now()
		}
		return got, nil
	}, want))
	if last := lastChange(s.States.Samples(), replicas, r.Since, time.Now()); !last.IsZero() {
		reached = last
	}
	return reached.Sub(r.Since)
}

// lastChange is the time of the latest change, in [since, until], of the
// state, robustness or mode of any of the volumes or of their replicas and
// engines ("<volume>-r-…", "<volume>-e-…"); zero when there is none.
// Samples that repeat the previous state of their resource (the manager
// rewrites objects for other reasons) are not changes.
func lastChange(samples []state.Sample, volumes map[string]int, since, until time.Time) time.Time {
	var last time.Time
	prev := map[string]string{}
	for _, x := range samples {
		seen := x.State + "/" + x.Robustness + "/" + x.Detail["mode"]
		was, known := prev[x.Key()]
		prev[x.Key()] = seen
		if (known && was == seen) || x.Time.Before(since) || x.Time.After(until) || !x.Time.After(last) {
			continue
		}
		if _, ok := volumes[volumeOf(x)]; ok {
			last = x.Time
		}
	}
	return last
}

// volumeOf is the volume a sample belongs to: its own name for a volume,
// the name before "-r-" or "-e-" for a replica or an engine.
func volumeOf(x state.Sample) string {
	if x.Kind == state.KindVolume {
		return x.Name
	}
	i := max(strings.LastIndex(x.Name, "-r-"), strings.LastIndex(x.Name, "-e-"))
	if i < 0 {
		return ""
	}
	return x.Name[:i]
}

// recoveredView renders what awaitRecovery compares for one volume, e.g.
// "attached/healthy 3/3 RW, outage seen".
func recoveredView(st, robustness string, rw, n int, outage, rebuilt bool) string {
	s := fmt.Sprintf("%s/%s %d/%d RW", st, robustness, rw, n)
	if outage {
		s += ", outage seen"
	}
	if rebuilt {
		s += ", rebuild seen"
	}
	return s
}

// volumeReplicas returns the volume and how many of its replicas (not
// being deleted) there are and run RW.
func volumeReplicas(ctx context.Context, c *client.Client, name string) (vol api.Volume, rw, n int, err error) {
	if vol, err = c.GetVolume(ctx, name); err != nil {
		return vol, 0, 0, err
	}
	reps, err := c.ListReplicas(ctx, name)
	if err != nil {
		return vol, 0, 0, err
	}
	for _, x := range reps {
		if x.Spec.Deleting {
			continue
		}
		n++
		if x.Status.State == api.InstanceRunning && x.Status.Mode == api.ModeRW {
			rw++
		}
	}
	return vol, rw, n, nil
}

// sawRebuild reports whether a replica of volume was seen rebuilding (mode
// WO) at or after since. Replica names are "<volume>-r-<id>".
func sawRebuild(samples []state.Sample, volume string, since time.Time) bool {
	for _, x := range samples {
		if x.Kind == state.KindReplica && strings.HasPrefix(x.Name, volume+"-r-") && !x.Time.Before(since) &&
			x.Detail["mode"] == api.ModeWO {
			return true
		}
	}
	return false
}

// volumeStateAt returns the last state and robustness the change stream
// reported for volume at or before t ("" when none was seen).
func volumeStateAt(samples []state.Sample, volume string, t time.Time) (st, robustness string) {
	var at time.Time
	for _, x := range samples {
		if x.Kind == state.KindVolume && x.Name == volume && !x.Time.After(t) && !x.Time.Before(at) {
			st, robustness, at = x.State, x.Robustness, x.Time
		}
	}
	return st, robustness
}
