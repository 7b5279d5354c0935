package scenarios

import (
	"context"
	"fmt"
	"strconv"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/engine/api"
)

// sbVariant selects which system backup scenario runs.
type sbVariant int

const (
	// sbRetainsData is seed 001 (Longhorn #10058, #10057): two targets,
	// five volumes, a system backup with the default policy, everything
	// deleted, the system backup restored, every volume's data back.
	sbRetainsData sbVariant = iota
	// sbPolicyAlways: two system backups in a row with policy always;
	// each backs up every volume again.
	sbPolicyAlways
	// sbPolicyDisabled: policy disabled takes no backup; a restore uses
	// whatever lastBackup there was, none for a volume never backed up.
	sbPolicyDisabled
	// sbRestoreAttached: a restore while one volume of the bundle is still
	// attached must skip it and leave its data alone.
	sbRestoreAttached
)

// systemBackup is seed 001 and its variants.
func systemBackup(v sbVariant) scenario {
	sc := scenario{
		Labels:  []string{"backup"},
		Timeout: 6 * time.Minute,
		Body:    func(ctx context.Context, s *Spec) { runSystemBackup(ctx, s, v) },
	}
	switch v {
	case sbRetainsData:
		sc.Name = "system-backup-restore-retains-data"
		sc.Labels = []string{"seed", "backup"}
		sc.Timeout = 10 * time.Minute
		sc.Description = "targets default and extra; vol-a attached, vol-b on extra detached, vol-c detached with data after a user backup, vol-d on a backing image, vol-e a DR volume; system backup (if-not-present) right after the last flush: every volume but the DR one gets a new backup, the bundle records it, the DR volume stays attached; delete extra and vol-a..d; restore: extra is back, every volume restored with its data"
	case sbPolicyAlways:
		sc.Name = "system-backup-policy-always"
		sc.Description = "variant of seed 001: two system backups with policy always, one right after the other: each backs up every volume again (backup counts +1 per run); the second restored after the volumes are deleted"
	case sbPolicyDisabled:
		sc.Name = "system-backup-policy-disabled"
		sc.Description = "variant of seed 001: policy disabled takes no backup, the bundle records lastBackup as it stands; restored, a volume never backed up comes back empty (all zeros) and one with an older user backup comes back as that backup"
	case sbRestoreAttached:
		sc.Name = "system-restore-skips-attached-volume"
		sc.Description = "variant of seed 001: a system restore while vol-a is still attached (and written after the system backup) skips vol-a and leaves it attached with its newer data; the deleted vol-b is restored"
	}
	return sc
}

const (
	// sbSize is every volume's size and the backing image's.
	sbSize = 16 << 20
	// sbWrites 4 KiB writes per workload.
	sbWrites = 256
	// sbReadyDeadline bounds a system backup (as Longhorn's tests'
	// system_backup_wait_for_state).
	sbReadyDeadline = 150 * time.Second
	// sbRestoreDeadline bounds a system restore, and then each volume's
	// own restore.
	sbRestoreDeadline = 3 * time.Minute
	// sbDRWindow is how long the DR volume must be seen attached, from
	// before the system backup on (Longhorn's robot test: 60 s).
	sbDRWindow = 60 * time.Second
)

// sbNames gives the run's objects names that differ per variant and per
// attempt (--repeat runs a spec again with the same seed), as the DR
// scenarios do: no run finds another's volumes, backups or targets. Volume
// names stay at 16 characters (lvol names are bounded).
type sbNames struct {
	v       sbVariant
	suffix  int64
	attempt string
}

func newSBNames(s *Spec, v sbVariant) sbNames {
	return sbNames{v: v, suffix: s.Seed % 1_000_000, attempt: strconv.FormatInt(s.start.UnixMilli()%(36*36*36*36), 36)}
}

// volume is vol-<key>'s name, e.g. sb0a-123456-1x2y.
func (n sbNames) volume(key string) string {
	return fmt.Sprintf("sb%d%s-%d-%s", n.v, key, n.suffix, n.attempt)
}

// object names another object of the run: kind "x" for the extra target,
// "i" for the backing image, "s1" for a system backup, "r" for a restore.
func (n sbNames) object(kind string) string {
	return fmt.Sprintf("sb%d%s-%d-%s", n.v, kind, n.suffix, n.attempt)
}

func runSystemBackup(ctx context.Context, s *Spec, v sbVariant) {
	r := &sbRun{variant: v, names: newSBNames(s, v), secrets: map[string]string{}}
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)
	r.main = s.BackupTarget(ctx)
	s.Step("backup target: " + r.main)
	if r.main != api.DefaultBackupTarget {
		r.secrets[r.main] = s.s3Secret(ctx)
	}
	switch v {
	case sbRetainsData:
		runRetainsData(ctx, s, r)
	case sbPolicyAlways:
		runPolicyAlways(ctx, s, r)
	case sbPolicyDisabled:
		runPolicyDisabled(ctx, s, r)
	case sbRestoreAttached:
		runRestoreAttached(ctx, s, r)
	}
	r.settle(s)
}

// runRetainsData is the spec's "Scenario" section, steps 1–6.
func runRetainsData(ctx context.Context, s *Spec, r *sbRun) {
	c := s.Client()
	// Step 1: targets.
	extra := r.names.object("x")
	s.Step("second backup target " + extra + " (the spec's \"extra\")")
	if secret := s.ExtraBackupTarget(ctx, extra); secret != "" {
		r.secrets[extra] = secret
	}
	r.extra = extra
	r.extraURL = sbTargetURL(ctx, s, extra)
	r.image = r.names.object("i")
	r.imageSHA = sbUploadImage(ctx, s, r.image)

	// Step 2: volumes.
	a := r.add(&sbVolume{key: "a", target: r.main, replicas: 3})
	b := r.add(&sbVolume{key: "b", target: extra, replicas: 2, detach: true})
	cv := r.add(&sbVolume{key: "c", target: r.main, replicas: 2, detach: true})
	d := r.add(&sbVolume{key: "d", target: r.main, replicas: 2, image: r.image})
	for _, v := range r.vols {
		s.Step(fmt.Sprintf("create %s (vol-%s: %d MiB, %d replicas, target %s%s)", v.name, v.key, sbSize>>20, v.replicas, v.target, onImage(v.image)))
		sbCreate(ctx, s, v)
	}

	s.Step("vol-c: write W_c0 over the first half, flush, take user backup bK; DR volume vol-e from bK; write W_c over the second half, flush, detach")
	sbWrite(ctx, s, cv, 0, sbSize/2, sbWrites, 1)
	bK := drBackup(ctx, s, cv.name, cv.target)
	r.dr = r.names.volume("e")
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: r.dr, FromBackup: bK.Status.URL, Standby: true, NumberOfReplicas: 2})
	Expect(err).NotTo(HaveOccurred(), "create DR volume %s from %s", r.dr, bK.Name)
	deleteVolumeOnCleanup(s, r.dr)
	sbWrite(ctx, s, cv, sbSize/2, sbSize/2, sbWrites, 2)
	sbDetach(ctx, s, cv)

	s.Step("vol-b: write W_b, flush, detach")
	sbWrite(ctx, s, b, 0, sbSize, sbWrites, 1)
	sbDetach(ctx, s, b)

	s.Step("vol-e: wait until the DR volume holds bK")
	drAwaitCaughtUp(ctx, s, r.dr, bK.Name, time.Now(), 2*time.Minute)
	drSince := time.Now()
	r.countBackups(ctx, s)

	// Step 3: the system backup, right after the last flush.
	s.Step("vol-a and vol-d: write W_a and W_d (the image's first quarter), flush; system backup at once (policy if-not-present, no settle delay)")
	sbWrite(ctx, s, a, 0, sbSize, sbWrites, 1)
	sbWrite(ctx, s, d, 0, sbSize/4, sbWrites/4, 1)
	sb := sbTake(ctx, s, r, r.names.object("s1"), "", func() {
		// Digests of the attached volumes are read while the system
		// backup runs: reads do not change what it backs up.
		a.digest, d.digest = seedDigest(ctx, s, a.dev), seedDigest(ctx, s, d.dev)
	})
	sbCheckTook(ctx, s, r, sb, api.VolumeBackupPolicyIfNotPresent)
	sbAwaitMaintenanceDone(ctx, s, r, sb)
	r.note(s, sbBundleConsistency(ctx, s, sb))
	s.Step(fmt.Sprintf("vol-e: stayed attached and standby for %v since before the system backup, never detached", sbDRWindow))
	sbDRStayedAttached(ctx, s, r.dr, drSince)

	// Step 4: tear down.
	s.Step("tear down: detach and delete vol-a..vol-d, delete backing image " + r.image + " and target " + extra + " (its data stays)")
	for _, v := range r.vols {
		sbDelete(ctx, s, v)
	}
	sbDeleteImage(ctx, s, r.image)
	Expect(deleteBackupTarget(ctx, c, extra, backupTargetDeleteDeadline)).To(Succeed())

	// Steps 5 and 6.
	rs := sbRestore(ctx, s, r, sb.Name)
	sbCheckTargetBack(ctx, s, r, extra)
	sbCheckImageBack(ctx, s, r)
	for _, v := range r.vols {
		sbVerifyRestored(ctx, s, r, rs, v)
	}
}

func onImage(image string) string {
	if image == "" {
		return ""
	}
	return ", backing image " + image
}
