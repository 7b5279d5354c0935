package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/engine/api"
)

// Steering a replacement onto the other disk of its node, with the
// manager's scheduler as it is: one replica of a volume per node (so a
// 3-replica volume on 3 nodes gets its replacement on the node that lost
// one) and, on that node, the disk with the most room left after the
// bytes already scheduled there. The freed disk would win a tie, so two
// ballast volumes, created after the volume and never attached (replica
// records only, no lvols), leave more bytes scheduled on the disk that
// holds the volume's replica than on the other:
//
//	volume  32 MiB → disk p (the disks tie)     p: 32  q: 0
//	ballast 48 MiB → disk q (more room)         p: 32  q: 48
//	ballast 64 MiB → disk p (more room)         p: 96  q: 48
//	replica on p deleted                        p: 64  q: 48 → replacement on q
//
// The same thing a Longhorn test does with a disk's storageReserved. The
// scenario checks the resulting bytes before it deletes the replica
// (biSteered) rather than trusting the arithmetic.
func biBallast() []int64 { return []int64{48 << 20, 64 << 20} }

// biCreateBallast creates the ballast volumes, 3 replicas each, detached.
func biCreateBallast(ctx context.Context, s *Spec, prefix string) {
	c := s.Client()
	for i, size := range biBallast() {
		name := fmt.Sprintf("%s%d", prefix, i+1)
		_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: size, NumberOfReplicas: 3, Frontend: api.FrontendNBD})
		Expect(err).NotTo(HaveOccurred(), "create ballast volume %s", name)
		deleteVolumeOnCleanup(s, name)
		s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)
	}
}

// biTarget is where the replacement of a replica must land.
type biTarget struct {
	Node     string
	Disk     string // the other disk's name
	DiskUUID string // its lvstore
}

// biSteered checks that, once victim is gone, the scheduler can only pick
// the other disk of victim's node, and returns that disk. A failed check
// fails the spec as a setup error (not a checker verdict, so a mutation run
// never counts it as a caught defect): the placement the variant is about
// would not happen.
func biSteered(ctx context.Context, s *Spec, victim api.Replica) biTarget {
	c := s.Client()
	all, err := c.ListReplicas(ctx, "")
	Expect(err).NotTo(HaveOccurred())
	node, err := c.GetNode(ctx, victim.Spec.Node)
	Expect(err).NotTo(HaveOccurred())
	scheduled := map[string]int64{}
	for _, r := range all {
		if r.Spec.Node == victim.Spec.Node && r.Name != victim.Name {
			scheduled[r.Spec.Disk] += r.Spec.Size
		}
	}
	var t biTarget
	for _, d := range node.Status.Disks {
		if d.Name != victim.Spec.Disk && d.LvstoreUUID != "" && (t.Disk == "" || scheduled[d.Name] < scheduled[t.Disk]) {
			t = biTarget{Node: node.Name, Disk: d.Name, DiskUUID: d.LvstoreUUID}
		}
	}
	plan := fmt.Sprintf("on %s, %s has %d MiB scheduled besides %s, %s %d MiB",
		node.Name, victim.Spec.Disk, scheduled[victim.Spec.Disk]>>20, victim.Name, t.Disk, scheduled[t.Disk]>>20)
	// A setup failure, not a checker's: it must not count as a caught defect.
	Expect(t.Disk != "" && scheduled[victim.Spec.Disk] > scheduled[t.Disk]).To(BeTrue(),
		"ballast did not steer the replacement off the freed disk: %s", plan)
	s.Env.progressf("     %s: %s: the replacement goes to %s", s.Name, plan, t.Disk)
	return t
}
