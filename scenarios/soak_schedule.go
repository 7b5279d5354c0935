package scenarios

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"time"
)

// The fault kinds the soak nemesis draws from. Node stop is one kind with
// two halves: the node is started again after a seeded time down.
const (
	soakNodeStop      = "node-stop"
	soakIMDelete      = "instance-manager-delete"
	soakEngineCrash   = "engine-crash"
	soakReplicaDelete = "replica-delete"
	// Opt-in kinds: never in the default draw, so that every seed keeps
	// the schedule it had; --fault-kinds names them.
	soakReplicaCrash   = "replica-crash"
	soakPause          = "pause"
	soakManagerRestart = "manager-restart"
	soakDiskError      = "disk-error"
)

// SoakFaultKinds lists every fault kind the soak can inject, in the order
// the schedule indexes them.
func SoakFaultKinds() []string {
	return []string{soakNodeStop, soakIMDelete, soakEngineCrash, soakReplicaDelete}
}

// SoakOptInFaultKinds lists the kinds the soak injects only when asked:
// adding a kind to the default set would change every seed's schedule.
func SoakOptInFaultKinds() []string {
	return []string{soakReplicaCrash, soakPause, soakManagerRestart, soakDiskError}
}

// CheckSoakFaultKinds reports an unknown kind in kinds.
func CheckSoakFaultKinds(kinds []string) error {
	all := append(SoakFaultKinds(), SoakOptInFaultKinds()...)
	for _, k := range kinds {
		if !slices.Contains(all, k) {
			return fmt.Errorf("fault kind %q: want one of %s", k, strings.Join(all, ", "))
		}
	}
	return nil
}

// Bounds of the schedule's seeded durations.
const (
	soakMinPause = 2 * time.Second
	soakMaxPause = 8 * time.Second
	soakMinDown  = 3 * time.Second
	soakMaxDown  = 15 * time.Second
)

// plannedFault is one entry of the soak schedule. Victims are indices, not
// names: the node at Target in the cluster's node list, or the volume at
// Target in the soak's volume list (Replica then picks among that volume's
// replicas sorted by name), so the schedule is fixed by the seed alone
// while the names it lands on are looked up when it runs.
type plannedFault struct {
	N       int // 1-based position in the schedule
	Kind    string
	Target  int
	Replica int
	// Pause is the quiet time (writers running) before the fault.
	Pause time.Duration
	// Down is how long a stopped node stays down, a paused one stalled or
	// a failing disk failing (node-stop, pause, disk-error).
	Down time.Duration
}

func (f plannedFault) String() string {
	s := fmt.Sprintf("#%d %s target=%d", f.N, f.Kind, f.Target)
	switch f.Kind {
	case soakReplicaDelete:
		s += fmt.Sprintf(" replica=%d", f.Replica)
	case soakNodeStop, soakPause, soakDiskError:
		s += fmt.Sprintf(" down=%v", f.Down)
	}
	return s + fmt.Sprintf(" after %v", f.Pause)
}

// soakSchedule draws the soak's faults from its own PRNG. Every entry
// consumes the same number of draws whatever its kind, so entry n depends
// only on the seed and the configuration, never on timing or on what the
// cluster did.
type soakSchedule struct {
	rng            *rand.Rand
	kinds          []string
	nodes, volumes int
	n              int
}

// newSoakSchedule returns the schedule of seed over kinds (all kinds when
// empty) for a cluster of nodes nodes and volumes volumes.
func newSoakSchedule(seed int64, kinds []string, nodes, volumes int) *soakSchedule {
	if len(kinds) == 0 {
		kinds = SoakFaultKinds()
	}
	// A fixed offset keeps this stream apart from the spec's other
	// seeded generators, which draw at timing-dependent moments.
	return &soakSchedule{rng: rand.New(rand.NewSource(seed ^ 0x50a4_5c4e)), kinds: kinds, nodes: max(nodes, 1), volumes: max(volumes, 1)}
}

// next returns the next fault of the schedule.
func (s *soakSchedule) next() plannedFault {
	s.n++
	kind := s.kinds[s.rng.Intn(len(s.kinds))]
	node := s.rng.Intn(s.nodes)
	volume := s.rng.Intn(s.volumes)
	replica := s.rng.Intn(1 << 16)
	pause := drawDuration(s.rng, soakMinPause, soakMaxPause)
	down := drawDuration(s.rng, soakMinDown, soakMaxDown)
	f := plannedFault{N: s.n, Kind: kind, Pause: pause, Replica: replica}
	switch kind {
	case soakNodeStop, soakIMDelete, soakPause, soakDiskError:
		f.Target = node
	default:
		f.Target = volume
	}
	switch kind {
	case soakNodeStop, soakPause, soakDiskError:
		f.Down = down
	}
	return f
}

// drawDuration draws uniformly from [lo, hi) in whole milliseconds.
func drawDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int63n(int64((hi-lo)/time.Millisecond)))*time.Millisecond
}
