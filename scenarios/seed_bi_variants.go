package scenarios

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// The variants widen seed 004 (backing-image-replica-rebuild) where
// Longhorn #10340 lived and the seed does not reach: an image smaller
// than the volume (the head is resized past it), three user snapshots
// (the oldest sits on the image, the others on each other), writes during
// the rebuild, and each disk's copy of the image read back and compared
// with the upload. biOtherDisk adds the placement the fix was about: a
// node with two disks, each with its own copy under its own name, and the
// replacement on the disk of that node that never held the image.
type biVariant int

const (
	// biWidened: 2 replicas on 1-disk nodes, the replacement on a node
	// without a surviving replica.
	biWidened biVariant = iota + 1
	// biOtherDisk: 3 replicas on nodes with two disks; the replacement
	// on the other disk of the node that lost a replica.
	biOtherDisk
)

func biRebuildVariant(v biVariant) scenario {
	sc := scenario{
		Labels:  []string{"v2", "backing-image"},
		Timeout: 4 * time.Minute,
		Body:    func(ctx context.Context, s *Spec) { runBIRebuildVariant(ctx, s, v) },
	}
	switch v {
	case biWidened:
		sc.Name = "backing-image-rebuild-snapshots-under-writes"
		sc.Description = "variant of seed 004: 8 MiB image under a 32 MiB volume (head resized), 3 user snapshots, 2 replicas; one deleted while flushed writes go on; the replacement on a node without a surviving replica: every copy of the image equals the upload, every chain ends in its disk's copy, snapshots and replicas equal, unwritten regions read the image or zeros, history (acked is durable)"
	case biOtherDisk:
		sc.Name = "backing-image-rebuild-other-disk"
		sc.disks = 2
		sc.Description = "variant of seed 004 on nodes with 2 disks: as backing-image-rebuild-snapshots-under-writes with 3 replicas, the replacement steered onto the other disk of the node that lost its replica (a disk with no copy of the image: it must be fetched there first, under that disk's own name)"
	}
	return sc
}

const (
	biVarImage  = 8 << 20  // the backing image
	biVarVolume = 32 << 20 // the volume, resized past the image
	biVarBlock  = 4096
	// biRebuildRate is the writes per second during the rebuild: enough
	// to land in every step of it, few enough to leave the 2 cores to it.
	biRebuildRate = 200
)

// biPhase writes Count blocks into [Off, Off+Len) before user snapshot
// s<i+1>.
type biPhase struct {
	Off, Len int64
	Count    int
}

// The regions are disjoint, so that every writer's history is checked on
// its own; what no one writes must read the image (below biVarImage) or
// zeros (above it).
func biPhases() []biPhase {
	return []biPhase{
		{0, 2 << 20, 32},       // s1: on the image
		{2 << 20, 1 << 20, 16}, // s2: on the image, on s1
		{9 << 20, 1 << 20, 16}, // s3: past the image, in the resized part
	}
}

// biDuring is where the writes during the rebuild go: on the image.
func biDuring() biPhase { return biPhase{Off: 3 << 20, Len: 1 << 20} }

// biUnwritten are the [start, end) ranges nobody writes.
func biUnwritten() [][2]int64 {
	return [][2]int64{{4 << 20, 8 << 20}, {8 << 20, 9 << 20}, {10 << 20, biVarVolume}}
}

func runBIRebuildVariant(ctx context.Context, s *Spec, v biVariant) {
	c := s.Client()
	suffix := s.Seed % 1_000_000
	name, image := fmt.Sprintf("bi%d-%d", v, suffix), fmt.Sprintf("bi%di-%d", v, suffix)
	replicas := 2
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)
	if v == biOtherDisk {
		s.Step("wait for 3 nodes with 2 disks each")
		s.RequireDisks(ctx, 3, 2)
		replicas = 3
	}

	s.Step(fmt.Sprintf("upload backing image %s (%d MiB of random data) with its sha512", image, biVarImage>>20))
	data, want := uploadRandomImage(ctx, s, image, biVarImage)

	s.Step(fmt.Sprintf("create volume %s (%d MiB on the %d MiB image, %d replicas)", name, biVarVolume>>20, biVarImage>>20, replicas))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: biVarVolume, NumberOfReplicas: replicas, BackingImage: image, Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)
	if v == biOtherDisk {
		s.Step(fmt.Sprintf("ballast volumes of %d and %d MiB (detached): the disk of each replica gets more bytes scheduled than its node's other disk", biBallast()[0]>>20, biBallast()[1]>>20))
		biCreateBallast(ctx, s, fmt.Sprintf("bib%d-", suffix))
	}

	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	s.Step("attach to " + node)
	_, dev := attachDial(ctx, s, name, node)
	defer dev.Close()

	var gens []*workload.Generator
	var snaps []string
	for i, ph := range biPhases() {
		snap := fmt.Sprintf("s%d", i+1)
		s.Step(fmt.Sprintf("write %d blocks in [%d, %d) MiB, flush, snapshot %s", ph.Count, ph.Off>>20, (ph.Off+ph.Len)>>20, snap))
		gen := seedWorkload(s, name, ph.Off, ph.Len, ph.Count, uint32(i+1))
		seedWriteFlush(ctx, gen, dev)
		gens = append(gens, gen)
		biSnapshot(ctx, s, name, snap)
		snaps = append(snaps, snap)
	}
	s.Check(s.Integrity().ReplicasEqual(ctx, name))

	reps, err := c.ListReplicas(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	Expect(reps).To(HaveLen(replicas))
	victim := reps[s.Faults.Intn(len(reps))]
	var target biTarget
	if v == biOtherDisk {
		target = biSteered(ctx, s, victim)
		s.Step(fmt.Sprintf("%s on %s holds no copy of %s before the rebuild", target.Disk, target.Node, image))
		inv, err := s.Integrity().ReadInventory(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(biCopyOn(inv, image, target.DiskUUID)).To(BeFalse(), "the destination disk already holds the image: the variant needs one that does not")
	}

	s.Step(fmt.Sprintf("flushed writes at %d/s in [%d, %d) MiB; delete replica %s on %s/%s", biRebuildRate, biDuring().Off>>20, (biDuring().Off+biDuring().Len)>>20, victim.Name, victim.Spec.Node, victim.Spec.Disk))
	during := biDuringWorkload(s, name)
	stop := seedBackground(ctx, during, dev)
	since := time.Now()
	fault := faults.ReplicaDelete(c, victim.Name)
	Expect(s.Faults.Inject(ctx, fault)).To(Succeed())
	wantPlace := biAwayFromSurvivors
	if v == biOtherDisk {
		wantPlace = biOtherDiskSameNode
	}
	s.Step("wait for the replacement (" + wantPlace + "), rebuilt and healthy")
	var replacement api.Replica
	s.Check(seedAwait(ctx, s, "replacement replica rebuilt, volume healthy", since, biRebuildDeadline,
		func(ctx context.Context) (biRebuildView, error) {
			view, r, err := observeBIRebuild(ctx, s, name, reps, victim, wantPlace)
			replacement = r
			return view, err
		}, biRebuildView{Volume: "attached/healthy", Replicas: replicas, RW: replicas, Placement: wantPlace}))
	Expect(s.Faults.Heal(ctx, fault)).To(Succeed())
	stop()
	Expect(during.Flush(ctx, dev)).To(Succeed(), "flush after the rebuild")
	counts := during.History().Counts()
	s.Env.progressf("     %s: replacement %s on %s/%s; %d writes acknowledged while it was rebuilt", s.Name, replacement.Name, replacement.Spec.Node, replacement.Spec.Disk, counts.OK)
	Expect(counts.OK).To(BeNumerically(">", 0), "no write was acknowledged during the rebuild")

	s.Step(fmt.Sprintf("checks: digest stable over %d reads, unwritten regions, replicas equal, histories", biReads))
	s.Check(checksum.Checker{}.Stable(ctx, dev, biReads))
	s.Check(biCheckUnwritten(ctx, dev, data))
	s.Check(s.Integrity().ReplicasEqual(ctx, name))
	for _, gen := range gens {
		s.Check(history.Checker{}.Check(ctx, gen.History(), dev))
	}
	s.Check(history.Checker{AckedIsDurable: true}.Check(ctx, during.History(), dev))

	s.Step("checks: every chain ends in its disk's copy of the image, snapshots equal, every copy equals the upload")
	reps, err = c.ListReplicas(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	inv, err := s.Integrity().ReadInventory(ctx)
	Expect(err).NotTo(HaveOccurred())
	s.Check(checkChainBase(inv, reps, image))
	s.Check(checkSnapshotsEqual(ctx, s, inv, reps, snaps))
	var mustHave []string
	for _, r := range reps {
		mustHave = append(mustHave, r.Spec.DiskUUID)
	}
	s.Check(checkBICopies(ctx, s, inv, image, biVarImage, want, mustHave))
	s.Check(s.NoOrphans(ctx))
}

// biSnapshot takes a user snapshot and waits until it is ready.
func biSnapshot(ctx context.Context, s *Spec, volume, snap string) {
	c := s.Client()
	_, err := c.SnapshotVolume(ctx, volume, snap)
	Expect(err).NotTo(HaveOccurred(), "snapshot %s", snap)
	s.Check(seedAwait(ctx, s, "snapshot "+snap+" ready", time.Now(), time.Minute,
		func(ctx context.Context) (string, error) {
			list, err := c.ListSnapshots(ctx, volume)
			for _, x := range list {
				if x.Spec.SnapshotName == snap {
					return x.Status.State, err
				}
			}
			return "", err
		}, api.SnapshotReady))
}

// biDuringWorkload writes during the rebuild, flushing every 16 writes.
func biDuringWorkload(s *Spec, volume string) *workload.Generator {
	gen, err := workload.New(workload.Config{
		Volume: volume, BlockSize: biVarBlock, Offset: biDuring().Off, Length: biDuring().Len, Pattern: workload.Random,
		Rate: biRebuildRate, Concurrency: 2, FlushEvery: 16, Seed: uint64(s.Seed) + 100, Writer: 100,
		Classify: workload.UnknownOn(nbd.ErrDisconnected), Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	return gen
}

// biCopyOn reports whether the disk with lvstore uuid holds a copy of image.
func biCopyOn(inv integrity.Inventory, image, uuid string) bool {
	for _, n := range inv.Nodes {
		for _, lv := range n.Lvols {
			if lv.LvstoreUUID == uuid && lv.Name == biLvolName(image, uuid) {
				return true
			}
		}
	}
	return false
}

// Placements of the replacement.
const (
	// biAwayFromSurvivors: on a node that holds no surviving replica (the
	// victim's node or a fresh one, as the scheduler's order has it).
	biAwayFromSurvivors = "on a node without a surviving replica"
	// biOtherDiskSameNode: on the victim's node, on its other disk.
	biOtherDiskSameNode = "on the other disk of the victim's node"
)

// biRebuildView is what the rebuild wait compares.
type biRebuildView struct {
	Volume    string // "state/robustness"
	Replicas  int    // replicas not being deleted
	RW        int    // of them running and RW
	Placement string // of the replacement, "" while there is none
}

func observeBIRebuild(ctx context.Context, s *Spec, volume string, before []api.Replica, victim api.Replica, want string) (biRebuildView, api.Replica, error) {
	c := s.Client()
	v, err := c.GetVolume(ctx, volume)
	if err != nil {
		return biRebuildView{}, api.Replica{}, err
	}
	reps, err := c.ListReplicas(ctx, volume)
	if err != nil {
		return biRebuildView{}, api.Replica{}, err
	}
	old := map[string]bool{}
	survivors := map[string]bool{} // nodes
	for _, r := range before {
		old[r.Name] = true
		if r.Name != victim.Name {
			survivors[r.Spec.Node] = true
		}
	}
	out := biRebuildView{Volume: v.Status.State + "/" + v.Status.Robustness}
	var replacement api.Replica
	for _, r := range reps {
		if r.Spec.Deleting {
			continue
		}
		out.Replicas++
		if r.Status.State == api.InstanceRunning && r.Status.Mode == api.ModeRW {
			out.RW++
		}
		if old[r.Name] {
			continue
		}
		replacement = r
		ok := !survivors[r.Spec.Node]
		if want == biOtherDiskSameNode {
			ok = r.Spec.Node == victim.Spec.Node && r.Spec.DiskUUID != victim.Spec.DiskUUID
		}
		out.Placement = want
		if !ok {
			out.Placement = fmt.Sprintf("on %s/%s (the victim was on %s/%s)", r.Spec.Node, r.Spec.Disk, victim.Spec.Node, victim.Spec.Disk)
		}
	}
	return out, replacement, nil
}

// checkerUnwritten names biCheckUnwritten's verdicts.
const checkerUnwritten = "unwritten-regions"

// biCheckUnwritten reads what nobody wrote: the image where it lies under
// the volume, zeros past it. A rebuilt chain without its image reads zeros
// in the first kind of region, which is the bug's signature.
func biCheckUnwritten(ctx context.Context, dev *nbd.Client, image []byte) checkers.Verdict {
	v := checkers.Verdict{Checker: checkerUnwritten, Outcome: checkers.Pass, At: time.Now()}
	var total int64
	for _, r := range biUnwritten() {
		got := make([]byte, r[1]-r[0])
		if err := checkers.ReadFull(dev, got, r[0]); err != nil {
			v.Outcome = checkers.Unknown
			v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("read [%d, %d)", r[0], r[1]), Detail: err.Error()})
			continue
		}
		want := make([]byte, len(got))
		if r[0] < int64(len(image)) {
			copy(want, image[r[0]:])
		}
		total += int64(len(got))
		if i := firstDiff(got, want); i >= 0 {
			off := r[0] + int64(i)
			what := "differs from the image"
			if off >= int64(len(image)) {
				what = "is not zero past the image"
			} else if bytes.Equal(got[i:min(i+4096, len(got))], make([]byte, min(4096, len(got)-i))) {
				what = "reads zeros where the image has data"
			}
			v.Outcome = checkers.Fail
			v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("unwritten region [%d, %d) %s", r[0], r[1], what), Offset: &off,
				Expected: hex.EncodeToString(want[i:min(i+16, len(want))]), Actual: hex.EncodeToString(got[i:min(i+16, len(got))])})
		}
	}
	if v.Outcome == checkers.Pass {
		v.Summary = fmt.Sprintf("%d MiB nobody wrote read the image below %d MiB and zeros above", total>>20, len(image)>>20)
	} else {
		v.Summary = fmt.Sprintf("%d of %d unwritten regions do not read what lies under them", len(v.Evidence), len(biUnwritten()))
	}
	return v
}

// firstDiff is the index of the first byte where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
