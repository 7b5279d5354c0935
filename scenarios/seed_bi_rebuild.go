package scenarios

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/faults"
)

// biReplicaRebuild is seed 004 (Longhorn #10340): a replica rebuilt onto
// another disk must end up on that disk's own copy of the backing image.
// The original bug matched the backing-image parent by its per-disk lvol
// name, never found it, and left the rebuilt replica without the image
// under it: regions the volume never wrote read as zeros there, and the
// volume's checksum changed after the rebuild.
func biReplicaRebuild() scenario {
	return scenario{
		Name:        "backing-image-replica-rebuild",
		Labels:      []string{"seed", "v2", "backing-image"},
		Description: "2-replica volume on a random backing image; write; delete a replica; after the rebuild on another disk the volume digest and every replica's digest are unchanged, replicas equal, no orphans",
		Timeout:     5 * time.Minute,
		Body:        runBIReplicaRebuild,
	}
}

const (
	biSize = 16 << 20
	// The writes land at random offsets in the first quarter of the
	// volume only: the rest must keep reading the backing image, through
	// every replica, before and after the rebuild. (Writes everywhere
	// would allocate every cluster and hide a missing backing image.)
	biWriteRegion = biSize / 4
	biWrites      = 64
	// biRebuildDeadline bounds replacement, rebuild and healthy.
	biRebuildDeadline = 2 * time.Minute
	// biReads is how many whole-volume reads must agree.
	biReads = 5
)

func runBIReplicaRebuild(ctx context.Context, s *Spec) {
	c := s.Client()
	suffix := s.Seed % 1_000_000
	name, image := fmt.Sprintf("birebuild-%d", suffix), fmt.Sprintf("bi-seed-%d", suffix)

	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	s.Step(fmt.Sprintf("upload backing image %s (%d MiB of random data) with its sha512", image, biSize>>20))
	uploadRandomImage(ctx, s, image, biSize)

	s.Step(fmt.Sprintf("create volume %s on it (2 replicas)", name))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: biSize, NumberOfReplicas: 2, BackingImage: image, Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)

	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	s.Step("attach to " + node)
	_, dev := attachDial(ctx, s, name, node)
	defer dev.Close()

	s.Step(fmt.Sprintf("write %d blocks at random offsets in the first %d MiB and flush", biWrites, biWriteRegion>>20))
	gen := seedWorkload(s, name, 0, biWriteRegion, biWrites, 1)
	seedWriteFlush(ctx, gen, dev)

	s.Step(fmt.Sprintf("whole-volume digest stable over %d reads; replicas equal", biReads))
	s.Check(checksum.Checker{}.Stable(ctx, dev, biReads))
	before := seedDigest(ctx, s, dev)
	reps, err := c.ListReplicas(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	Expect(reps).To(HaveLen(2), "replicas of a 2-replica volume")
	s.Check(s.Integrity().ReplicasEqual(ctx, name))

	victim := reps[s.Faults.Intn(len(reps))]
	survivor := reps[0]
	if survivor.Name == victim.Name {
		survivor = reps[1]
	}
	s.Step(fmt.Sprintf("delete replica %s on %s", victim.Name, victim.Spec.Node))
	since := time.Now()
	fault := faults.ReplicaDelete(c, victim.Name)
	Expect(s.Faults.Inject(ctx, fault)).To(Succeed())

	s.Step("wait for a replacement on another disk, rebuilt and healthy")
	var replacement api.Replica
	s.Check(seedAwait(ctx, s, "replacement replica rebuilt, volume healthy", since, biRebuildDeadline,
		func(ctx context.Context) (rebuildView, error) {
			v, r, err := observeRebuild(ctx, s, name, survivor, victim.Name)
			replacement = r
			return v, err
		}, rebuildView{Volume: "attached/healthy", Replicas: 2, Survivor: "running/RW", Replacement: "running/RW"}))
	Expect(s.Faults.Heal(ctx, fault)).To(Succeed())
	s.Env.progressf("     %s: replacement %s on %s", s.Name, replacement.Name, replacement.Spec.Node)

	s.Step(fmt.Sprintf("digest stable over %d reads and equal to the one before; replicas equal; history", biReads))
	s.Check(checksum.Checker{}.Stable(ctx, dev, biReads))
	s.Check(checksum.Checker{}.Equal(before, seedDigest(ctx, s, dev)))
	s.Check(s.Integrity().ReplicasEqual(ctx, name))
	s.Check(history.Checker{}.Check(ctx, gen.History(), dev))
	s.Check(s.NoOrphans(ctx))
}

// rebuildView is what the rebuild wait compares.
type rebuildView struct {
	Volume      string // "state/robustness"
	Replicas    int    // replicas not being deleted
	Survivor    string // "state/mode" of the replica that was kept
	Replacement string // "state/mode" of a new replica on another node, "" while there is none
}

// observeRebuild returns the rebuild's progress and the replacement
// replica, once there is one.
func observeRebuild(ctx context.Context, s *Spec, volume string, survivor api.Replica, deleted string) (rebuildView, api.Replica, error) {
	c := s.Client()
	v, err := c.GetVolume(ctx, volume)
	if err != nil {
		return rebuildView{}, api.Replica{}, err
	}
	reps, err := c.ListReplicas(ctx, volume)
	if err != nil {
		return rebuildView{}, api.Replica{}, err
	}
	var replacement api.Replica
	out := rebuildView{Volume: v.Status.State + "/" + v.Status.Robustness}
	for _, r := range reps {
		if r.Spec.Deleting {
			continue
		}
		out.Replicas++
		mode := r.Status.State + "/" + r.Status.Mode
		switch {
		case r.Name == survivor.Name:
			out.Survivor = mode
		case r.Name != deleted && r.Spec.Node != survivor.Spec.Node:
			out.Replacement, replacement = mode, r
		}
	}
	return out, replacement, nil
}

// seedWaitBackingImage waits until the manager reports the image ready.
func seedWaitBackingImage(ctx context.Context, s *Spec, name string, deadline time.Duration) api.BackingImage {
	c := s.Client()
	var last api.BackingImage
	s.Check(seedAwait(ctx, s, "backing image "+name+" ready", time.Now(), deadline,
		func(ctx context.Context) (string, error) {
			bi, err := c.GetBackingImage(ctx, name)
			last = bi
			return bi.Status.State, err
		}, api.BackingImageReady))
	return last
}

// uploadRandomImage uploads size bytes of seeded random data as backing
// image name, deletes it at cleanup, and checks the manager's SHA-512 of
// it; it returns the data and that checksum (hex).
func uploadRandomImage(ctx context.Context, s *Spec, name string, size int) ([]byte, string) {
	c := s.Client()
	data := make([]byte, size)
	s.Rand.Read(data)
	sum := sha512.Sum512(data)
	want := hex.EncodeToString(sum[:])
	_, err := c.UploadBackingImage(ctx, name, bytes.NewReader(data), want)
	Expect(err).NotTo(HaveOccurred(), "upload backing image")
	DeferCleanup(func(ctx SpecContext) { c.DeleteBackingImage(ctx, name) }, NodeTimeout(time.Minute))
	bi := seedWaitBackingImage(ctx, s, name, time.Minute)
	Expect(bi.Status.SHA512).To(Equal(want), "the manager's sha512 of the image")
	return data, want
}
