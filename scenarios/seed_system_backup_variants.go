package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
)

// The variants are small: two volumes on the run's target, no second
// target, no backing image, no DR volume.

// runPolicyAlways: two system backups with policy always back each volume
// up twice (if-not-present would skip the second time: nothing changed);
// the second is restored.
func runPolicyAlways(ctx context.Context, s *Spec, r *sbRun) {
	a, b := sbTwoVolumes(ctx, s, r)
	sb1 := sbTake(ctx, s, r, r.names.object("s1"), api.VolumeBackupPolicyAlways, nil)
	sbCheckTook(ctx, s, r, sb1, api.VolumeBackupPolicyAlways)
	sbAwaitMaintenanceDone(ctx, s, r, sb1)
	r.note(s, sbBundleConsistency(ctx, s, sb1))
	s.Step("second system backup with policy always, nothing written since: every volume is backed up again")
	sb2 := sbTake(ctx, s, r, r.names.object("s2"), api.VolumeBackupPolicyAlways, nil)
	sbCheckTook(ctx, s, r, sb2, api.VolumeBackupPolicyAlways)
	sbAwaitMaintenanceDone(ctx, s, r, sb2)
	r.note(s, sbBundleConsistency(ctx, s, sb2))
	sbDeleteAllAndRestore(ctx, s, r, a, b, sb2.Name)
}

// runPolicyDisabled: policy disabled takes no backup, and the bundle
// records each volume's lastBackup as it stands. Expected, as Longhorn
// behaves (a volume is restored from its recorded lastBackup only when
// there is one) and as refengine specifies it (one without is created
// empty): vol-a, never backed up, comes back empty, all zeros, its writes
// gone; vol-c comes back as its user backup bK, without what was written
// after bK.
func runPolicyDisabled(ctx context.Context, s *Spec, r *sbRun) {
	c := s.Client()
	a := r.add(&sbVolume{key: "a", target: r.main, replicas: 2})
	cv := r.add(&sbVolume{key: "c", target: r.main, replicas: 2, detach: true})
	for _, v := range r.vols {
		s.Step(fmt.Sprintf("create %s (vol-%s: %d MiB, %d replicas, target %s)", v.name, v.key, sbSize>>20, v.replicas, v.target))
		sbCreate(ctx, s, v)
	}
	s.Step("vol-c: write W_c0 over the first half, flush, take user backup bK; write W_c over the second half, flush, detach")
	sbWrite(ctx, s, cv, 0, sbSize/2, sbWrites, 1)
	atBK := seedDigest(ctx, s, cv.dev)
	bK := drBackup(ctx, s, cv.name, cv.target)
	sbWrite(ctx, s, cv, sbSize/2, sbSize/2, sbWrites, 2)
	sbDetach(ctx, s, cv)
	r.countBackups(ctx, s)
	s.Step("vol-a: write W_a, flush (never backed up); system backup at once with policy disabled")
	sbWrite(ctx, s, a, 0, sbSize, sbWrites, 1)
	sb := sbTake(ctx, s, r, r.names.object("s1"), api.VolumeBackupPolicyDisabled, nil)
	sbCheckTook(ctx, s, r, sb, api.VolumeBackupPolicyDisabled)
	sbAwaitMaintenanceDone(ctx, s, r, sb)
	r.note(s, sbBundleConsistency(ctx, s, sb))

	zeros, err := checksum.Digest(ctx, zeroDevice(sbSize))
	Expect(err).NotTo(HaveOccurred())
	s.Step("expected of the restore: vol-a created empty (no lastBackup recorded: all zeros, W_a gone), vol-c restored from bK (W_c0 there, W_c gone)")
	a.want, a.digest, a.writes = "", zeros, nil
	cv.want, cv.digest, cv.writes = bK.Name, atBK, cv.writes[:1]
	v, err := c.GetVolume(ctx, cv.name)
	Expect(err).NotTo(HaveOccurred())
	Expect(v.Status.LastBackup).To(Equal(bK.Name), "vol-c's lastBackup before the restore")
	sbDeleteAllAndRestore(ctx, s, r, a, cv, sb.Name)
}

// runRestoreAttached: vol-a stays attached through the restore and is
// written after the system backup; the restore must skip it (Longhorn:
// "Failed to restore attached volume") and leave it attached with its newer
// data. vol-b, deleted, is restored.
func runRestoreAttached(ctx context.Context, s *Spec, r *sbRun) {
	a, b := sbTwoVolumesHalf(ctx, s, r)
	sb := sbTake(ctx, s, r, r.names.object("s1"), "", nil)
	sbCheckTook(ctx, s, r, sb, api.VolumeBackupPolicyIfNotPresent)
	sbAwaitMaintenanceDone(ctx, s, r, sb)
	r.note(s, sbBundleConsistency(ctx, s, sb))
	s.Step("vol-a: write W_a2 over the second half after the system backup, flush: the data the restore must not touch")
	sbWrite(ctx, s, a, sbSize/2, sbSize/2, sbWrites, 2)
	a.digest = seedDigest(ctx, s, a.dev)
	a.skipped = true
	s.Step("tear down: detach and delete vol-b only")
	sbDelete(ctx, s, b)
	rs := sbRestore(ctx, s, r, sb.Name)
	sbVerifyRestored(ctx, s, r, rs, a)
	sbVerifyRestored(ctx, s, r, rs, b)
}

// sbTwoVolumes creates vol-a (attached, W_a) and vol-b (W_b, detached),
// each 2 replicas on the run's target, and counts their backups.
func sbTwoVolumes(ctx context.Context, s *Spec, r *sbRun) (a, b *sbVolume) {
	return sbTwoVolumesOver(ctx, s, r, sbSize)
}

// sbTwoVolumesHalf is sbTwoVolumes with W_a over vol-a's first half only.
func sbTwoVolumesHalf(ctx context.Context, s *Spec, r *sbRun) (a, b *sbVolume) {
	return sbTwoVolumesOver(ctx, s, r, sbSize/2)
}

func sbTwoVolumesOver(ctx context.Context, s *Spec, r *sbRun, aLength int64) (a, b *sbVolume) {
	a = r.add(&sbVolume{key: "a", target: r.main, replicas: 2})
	b = r.add(&sbVolume{key: "b", target: r.main, replicas: 2, detach: true})
	for _, v := range r.vols {
		s.Step(fmt.Sprintf("create %s (vol-%s: %d MiB, %d replicas, target %s)", v.name, v.key, sbSize>>20, v.replicas, v.target))
		sbCreate(ctx, s, v)
	}
	s.Step("vol-b: write W_b, flush, detach; vol-a: write W_a, flush")
	sbWrite(ctx, s, b, 0, sbSize, sbWrites, 1)
	sbDetach(ctx, s, b)
	sbWrite(ctx, s, a, 0, aLength, sbWrites, 1)
	a.digest = seedDigest(ctx, s, a.dev)
	r.countBackups(ctx, s)
	return a, b
}

// sbDeleteAllAndRestore deletes both volumes, restores sb and verifies
// both.
func sbDeleteAllAndRestore(ctx context.Context, s *Spec, r *sbRun, a, b *sbVolume, sb string) {
	s.Step("tear down: detach and delete " + a.name + " and " + b.name)
	sbDelete(ctx, s, a)
	sbDelete(ctx, s, b)
	rs := sbRestore(ctx, s, r, sb)
	sbVerifyRestored(ctx, s, r, rs, a)
	sbVerifyRestored(ctx, s, r, rs, b)
}

// sbVerifySkipped checks a volume the restore found attached: its object
// says skipped, it never left attached (change stream) or its node since
// the restore began, and it holds its newer data.
func sbVerifySkipped(ctx context.Context, s *Spec, r *sbRun, rs api.SystemRestore, v *sbVolume) {
	s.Step(fmt.Sprintf("vol-%s %s: skipped by the restore, attached on %s throughout, its data untouched", v.key, v.name, v.node))
	x, err := s.Client().GetVolume(ctx, v.name)
	Expect(err).NotTo(HaveOccurred())
	s.Check(diffVerdict("state-converge", "the restore skipped attached volume "+v.name+" and left it attached where it was",
		map[string]string{"action": api.RestoreActionSkipped, "state": api.VolumeAttached, "node": v.node, "fromBackup": ""},
		map[string]string{"action": sbObjectAction(rs, v.name), "state": x.Status.State, "node": x.Status.Node, "fromBackup": x.Spec.FromBackup}))
	left := state.Condition{What: "volume " + v.name + " not attached", Holds: func(x state.Sample) bool {
		return x.Kind == state.KindVolume && x.Name == v.name && x.State != api.VolumeAttached
	}}
	s.Check(state.Never(samplesSince(s.States.Samples(), r.restoreStart), left, 0, time.Now()))
	sbCheckData(ctx, s, r, v)
}

// zeroDevice reads as zeros: the digest of a volume never written.
type zeroDevice int64

func (z zeroDevice) Size() int64 { return int64(z) }

func (z zeroDevice) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}
