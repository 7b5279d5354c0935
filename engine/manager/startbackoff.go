package manager

import (
	"slices"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// Bounds of the wait after a replica failed to start on a disk.
const (
	startBackoffBase = time.Second
	startBackoffMax  = 2 * time.Minute
)

// startBackoff keeps replicas off a disk whose last replica start was
// refused by its node (a disk failing I/O answers every start with EIO),
// for an interval that doubles with every refusal in a row and ends at the
// first start that succeeds there. Without it a volume missing a replica
// re-schedules onto that disk at once, every pass: schedule, start refused,
// delete, forget, hundreds of times a minute.
type startBackoff struct {
	now func() time.Time

	mu    sync.Mutex
	disks map[diskKey]startFailures
}

type diskKey struct{ node, disk string }

type startFailures struct {
	n     int
	until time.Time
}

func newStartBackoff(now func() time.Time) *startBackoff {
	return &startBackoff{now: now, disks: map[diskKey]startFailures{}}
}

// failed records a refused start on a node's disk (by lvstore UUID) and
// returns how long the disk is now kept out of scheduling.
func (b *startBackoff) failed(node, disk string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := diskKey{node, disk}
	f := b.disks[k]
	f.n++
	d := startBackoffBase
	for i := 1; i < f.n && d < startBackoffMax; i++ {
		d *= 2
	}
	d = min(d, startBackoffMax)
	f.until = b.now().Add(d)
	b.disks[k] = f
	return d
}

// started forgets the disk's refusals: a replica started there.
func (b *startBackoff) started(node, disk string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.disks, diskKey{node, disk})
}

// blocked reports whether a node's disk is still kept out of scheduling.
func (b *startBackoff) blocked(node, disk string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.disks[diskKey{node, disk}]
	return ok && b.now().Before(f.until)
}

// schedulable returns nodes with the disks that are backing off removed,
// for scheduleReplicas; the nodes given are not modified.
func (b *startBackoff) schedulable(nodes []api.Node) []api.Node {
	out := make([]api.Node, 0, len(nodes))
	for _, n := range nodes {
		if slices.ContainsFunc(n.Status.Disks, func(d api.Disk) bool { return b.blocked(n.Name, d.LvstoreUUID) }) {
			n.Status.Disks = slices.DeleteFunc(slices.Clone(n.Status.Disks), func(d api.Disk) bool { return b.blocked(n.Name, d.LvstoreUUID) })
		}
		out = append(out, n)
	}
	return out
}
