package local

import "time"

// exitCause says why an incarnation ended, which decides how soon the
// supervisor starts the next one.
type exitCause int

const (
	// causeCrashed: the process exited on its own, or could not start.
	causeCrashed exitCause = iota
	// causeDeleted: DeleteInstanceManager killed it on purpose.
	causeDeleted
)

func (c exitCause) String() string {
	if c == causeDeleted {
		return "deleted"
	}
	return "crashed"
}

// backoff bounds the delay before restarting a crashed process.
type backoff struct{ min, max time.Duration }

// restartPolicy models what Kubernetes does with an instance-manager pod. A
// deleted pod is replaced at once by its DaemonSet and says nothing about
// the pod's health, so it neither waits nor advances the backoff. A pod that
// keeps crashing goes into CrashLoopBackOff: the delay starts at min,
// doubles up to max, and resets once an incarnation stays up for 10×max.
// Keeping deletions out of the backoff lets a scenario delete an instance
// manager many times in a row without every recovery waiting max.
type restartPolicy struct {
	b    backoff
	wait time.Duration // delay for the next crash; 0 means b.min
}

// delay returns how long to wait before starting the next incarnation after
// one that ran for uptime and ended for cause.
func (r *restartPolicy) delay(cause exitCause, uptime time.Duration) time.Duration {
	if cause == causeDeleted {
		return 0
	}
	if r.wait == 0 || uptime > 10*r.b.max {
		r.wait = r.b.min
	}
	d := r.wait
	r.wait = min(2*r.wait, r.b.max)
	return d
}
