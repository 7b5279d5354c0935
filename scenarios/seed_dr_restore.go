package scenarios

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/faults"
)

// drVariant selects where seed 000's fault lands and what it is.
type drVariant int

const (
	// drIncrementalNodeStop is the seed itself: the DR volume's node is
	// stopped during an incremental restore (Longhorn #9752's report).
	drIncrementalNodeStop drVariant = iota
	// drInitialNodeStop (b): the node stops during the first restore.
	drInitialNodeStop
	// drEngineCrash (c): the DR volume's engine is SIGKILLed during the
	// incremental restore.
	drEngineCrash
	// drTargetDown (d): #9752's real cause, negative: the backup target's
	// endpoint runs on the stopped node, so every replica's restore fails;
	// the volume must end faulted and stay so, never auto-salvaged.
	drTargetDown
)

// drRestore is seed 000 (Longhorn #9752) and its variants.
func drRestore(v drVariant) scenario {
	sc := scenario{
		Labels:  []string{"seed", "backup", "dr"},
		Timeout: 8 * time.Minute,
		Body:    func(ctx context.Context, s *Spec) { runDRRestore(ctx, s, v) },
	}
	switch v {
	case drIncrementalNodeStop:
		sc.Name = "dr-volume-node-restart-during-incremental-restore"
		sc.Description = "DR volume following a 3-replica source; backup b0, DR restore, backup b1 with zeroed and new blocks; stop the DR volume's node during b1's restore; it must move to another node, resume from the committed point, never stay faulted, activate and hold b1's data"
	case drInitialNodeStop:
		sc.Name = "dr-volume-node-restart-during-initial-restore"
		sc.Description = "variant (b) of seed 000: the DR volume's node stops during the first restore (b0); it must resume elsewhere, then follow b1, activate and hold b1's data"
	case drEngineCrash:
		sc.Name = "dr-volume-engine-crash-during-incremental-restore"
		sc.Description = "variant (c) of seed 000: SIGKILL the DR volume's engine during b1's restore; not ready, restore in progress after the reattach, then caught up, activated, b1's data"
	case drTargetDown:
		sc.Name = "dr-volume-backup-target-down-during-restore"
		sc.Description = "variant (d) of seed 000, negative: the backup target's S3 endpoint runs on a node that is stopped during b1's restore; every replica's restore fails, the DR volume ends faulted with RestoreFailure, is never auto-salvaged, refuses attach, can be deleted"
	}
	return sc
}

const (
	drSize = 64 << 20
	mib    = 1 << 20
	// drW0Writes random 4 KiB writes over the first half make b0.
	drW0Writes = 2048
	// drFaultWindow is the seeded delay after the restore is seen running.
	drFaultWindow = 500 * time.Millisecond
	// drRecovery bounds steps 6's recovery (spec: 3 min).
	drRecovery = 3 * time.Minute
	// drFaultedLimit is how long the DR volume may stay faulted at a
	// stretch: the manager needs NodeTimeout (5 s) to call the node down,
	// then the reattach; more than this is a volume left faulted.
	drFaultedLimit = 20 * time.Second
)

// drRun holds what the steps share.
type drRun struct {
	src, dr, target string
	srcDev          *nbd.Client
	d0, d1          string
	b0, b1          api.Backup
	// endpointNode hosts the target's endpoint (variant d).
	endpointNode string
	watch        *restoreWatch
	// before are the DR volume's replicas when the fault hit; stopped is
	// the node stopped (if any), healedAt when it was started again.
	before   map[string]bool
	stopped  string
	healedAt time.Time
	fault    faults.Fault
	// deltaBytes is what b1 stored on top of b0.
	deltaBytes int64
}

func runDRRestore(ctx context.Context, s *Spec, variant drVariant) {
	c := s.Client()
	suffix := s.Seed % 1_000_000
	// Names differ per variant and per attempt (--repeat runs a spec again
	// with the same seed): the workloads write the volume's name into
	// every block, so no run's backups deduplicate against an earlier
	// run's left on a shared target (restore-resume compares bytes pulled
	// with what b1 uploaded).
	attempt := strconv.FormatInt(s.start.UnixMilli()%(36*36*36*36), 36)
	r := &drRun{src: fmt.Sprintf("dr%d-src-%d-%s", variant, suffix, attempt), dr: fmt.Sprintf("dr%d-dst-%d-%s", variant, suffix, attempt)}

	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)
	nodes := s.Env.Cluster.Nodes()
	if variant == drTargetDown {
		r.endpointNode = nodes[s.Rand.Intn(len(nodes))].Name
		s.Step("backup target: an S3 endpoint running on node " + r.endpointNode)
		r.target = s.BackupTargetOnNode(ctx, r.endpointNode)
	} else {
		r.target = s.BackupTarget(ctx)
		s.Step("backup target: " + r.target)
	}

	// Step 1: source volume and b0.
	s.Step(fmt.Sprintf("create source volume %s (%d MiB, 3 replicas, target %s), attach, write W0 and filler, flush", r.src, drSize/mib, r.target))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: r.src, Size: drSize, NumberOfReplicas: 3, Frontend: api.FrontendNBD, BackupTargetName: r.target})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, r.src)
	s.WaitVolumeState(ctx, r.src, api.VolumeDetached, time.Minute)
	_, err = c.AttachVolume(ctx, r.src, nodes[s.Rand.Intn(len(nodes))].Name)
	Expect(err).NotTo(HaveOccurred())
	vol := seedAwaitVolume(ctx, s, r.src, time.Now(), 2*time.Minute, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy})
	r.srcDev = seedDial(ctx, s, vol.Status.Endpoint, time.Minute)
	DeferCleanup(func() { r.srcDev.Close() })
	w0 := seedWorkload(s, r.src, 0, 32*mib, drW0Writes, 1)
	seedWriteFlush(ctx, w0, r.srcDev)
	filler := make([]byte, 8*mib)
	rand.New(rand.NewSource(s.Seed)).Read(filler)
	_, err = r.srcDev.WriteAt(filler, 32*mib)
	Expect(err).NotTo(HaveOccurred(), "write the filler")
	Expect(r.srcDev.Flush()).To(Succeed())
	r.d0 = seedDigest(ctx, s, r.srcDev)

	s.Step("back up " + r.src + " as b0 and wait until it is Completed and the backup volume lists it")
	r.b0 = drBackup(ctx, s, r.src, r.target)

	// Step 2: DR volume.
	s.Step(fmt.Sprintf("create DR volume %s from b0 (standby, no frontend, 2 replicas)", r.dr))
	_, err = c.CreateVolume(ctx, api.VolumeCreateRequest{Name: r.dr, FromBackup: r.b0.Status.URL, Standby: true, NumberOfReplicas: 2})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, r.dr)
	var stopWatch func()
	r.watch, stopWatch = drWatchRestore(ctx, s, r.dr)
	DeferCleanup(stopWatch)

	if variant == drInitialNodeStop {
		s.Step("wait for the restore of b0 to start, then stop the DR volume's node")
		since := drFaultDuringRestore(ctx, s, r, r.b0.Name, variant)
		drAwaitRecovered(ctx, s, r, r.b0.Name, since, variant)
	} else {
		s.Step("wait for the restore of b0 to start, then to complete")
		drAwaitRestoring(ctx, s, r.dr, r.b0.Name)
		drAwaitCaughtUp(ctx, s, r.dr, r.b0.Name, time.Now(), 2*time.Minute)
	}
	drCheckStandby(ctx, s, r.dr, r.b0.Name)

	if variant == drInitialNodeStop {
		// The stopped node may have served the source's engine too: wait
		// until the source is back and reconnect before W1.
		s.Step("wait until the source volume is attached and healthy again, reconnect")
		vol := seedAwaitVolume(ctx, s, r.src, time.Now(), 2*time.Minute, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy})
		r.srcDev.Close()
		r.srcDev = seedDial(ctx, s, vol.Status.Endpoint, time.Minute)
	}

	// Step 3: b1 with zeroed, new and changed blocks.
	s.Step("write W1 to the source: zeros over two of b0's blocks, 24 MiB of new blocks; flush; back up as b1")
	Expect(r.srcDev.WriteZeroes(32*mib, 4*mib)).To(Succeed(), "zero two blocks b0 holds data in")
	w1 := seedWorkloadSeq(s, r.src, 40*mib, 24*mib, 24*mib/4096, 3)
	seedWriteFlush(ctx, w1, r.srcDev)
	r.d1 = seedDigest(ctx, s, r.srcDev)
	r.b1 = drBackup(ctx, s, r.src, r.target)
	r.deltaBytes = r.b1.Status.BytesUploaded

	if variant == drInitialNodeStop {
		s.Step("wait until the DR volume caught up with b1")
		drAwaitCaughtUp(ctx, s, r.dr, r.b1.Name, time.Now(), drRecovery)
	} else {
		// Steps 4–6: the fault during the incremental restore.
		s.Step("wait until the DR volume follows b1 and its restore started from b0")
		since := drFaultDuringRestore(ctx, s, r, r.b1.Name, variant)
		if variant == drTargetDown {
			drAwaitRestoreFailed(ctx, s, r, since)
			return
		}
		drAwaitRecovered(ctx, s, r, r.b1.Name, since, variant)
	}

	// Step 7: activate and verify.
	s.Step("activate the DR volume (retrying only while it has not finished the incremental restore), wait until detached")
	drActivate(ctx, s, r.dr)
	target := drUpNode(ctx, s)
	s.Step("attach " + r.dr + " to " + target + " and verify: digest of b1's source, W0 and W1 histories, replicas equal")
	_, err = c.AttachVolume(ctx, r.dr, target)
	Expect(err).NotTo(HaveOccurred())
	got := seedAwaitVolume(ctx, s, r.dr, time.Now(), 2*time.Minute, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy})
	dev := seedDial(ctx, s, got.Status.Endpoint, time.Minute)
	defer dev.Close()
	strict := history.Checker{AckedIsDurable: true}
	s.Check(strict.Check(ctx, w0.History(), dev))
	s.Check(strict.Check(ctx, w1.History(), dev))
	s.Check(drDigestEqual(ctx, s, dev, r.d1))
	s.Check(s.Integrity().ReplicasEqual(ctx, r.dr))
	s.Check(s.States.Never(drFaulted(r.dr), drFaultedLimit))
}
