package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/timeline"
	"github.com/faultline/faultline/workload"
)

// sbRun holds what the steps of a system backup scenario share.
type sbRun struct {
	variant sbVariant
	names   sbNames
	// main is the run's target (default, or s3); extra the second one
	// (seed 001 only) and extraURL its URL when it was made.
	main, extra, extraURL string
	// secrets are the secret keys of the run's S3 targets, by target: a
	// restore that re-creates one of them needs it.
	secrets map[string]string
	// image is the backing image vol-d is on (seed 001), imageSHA its
	// sha512.
	image, imageSHA string
	vols            []*sbVolume
	dr              string
	// restoreStart is when the system restore was asked for.
	restoreStart time.Time
	// failed are verdicts that failed without stopping the scenario
	// (note): settle fails the spec with them at the end.
	failed []checkers.Verdict
}

// sbVolume is one volume of the scenario and what a restore must give
// back.
type sbVolume struct {
	key, name, target string
	replicas          int
	image             string
	// detach: the volume is detached before the system backup (the
	// system backup must attach it for maintenance).
	detach bool
	node   string
	dev    *nbd.Client
	// writes are the histories the restored volume must hold in full,
	// digest what it must read as.
	writes []*workload.History
	digest string
	// backups is how many backups of the volume the manager listed
	// before the system backup.
	backups int
	// want is the backup the restore must create the volume from ("" for
	// one created empty); skipped: the restore must leave it alone.
	want    string
	skipped bool
}

// add names v and appends it to the run.
func (r *sbRun) add(v *sbVolume) *sbVolume {
	v.name = r.names.volume(v.key)
	r.vols = append(r.vols, v)
	return v
}

// note records a verdict as Spec.Check does, but a failure does not stop
// the scenario: bundle-consistency is found before the restore, and the
// restore then shows what the bad bundle loses (history, checksum). The
// first failure in the report is what a mutation run counts as caught.
func (r *sbRun) note(s *Spec, v checkers.Verdict) {
	if v.At.IsZero() {
		v.At = time.Now()
	}
	s.Timeline.Add(timeline.Event{Time: v.At, Kind: timeline.KindChecker, Lane: "checkers", Name: v.Checker,
		Detail: map[string]string{"outcome": string(v.Outcome), "summary": v.Summary}})
	AddReportEntry(reports.EntryVerdict, v, ReportEntryVisibilityFailureOrVerbose)
	if !v.Passed() {
		r.failed = append(r.failed, v)
		s.Env.progressf("     %s: %s %s (the scenario goes on; it fails at the end): %s", s.Name, v.Outcome, v.Checker, v.Summary)
	}
}

// settle fails the spec with the first noted failure.
func (r *sbRun) settle(s *Spec) {
	if len(r.failed) == 0 {
		return
	}
	v := r.failed[0]
	more := ""
	if len(r.failed) > 1 {
		more = fmt.Sprintf(" (and %d more failed verdicts)", len(r.failed)-1)
	}
	Fail(fmt.Sprintf("checker %s: %s%s", v.Checker, v.Summary, more))
}

// countBackups records how many backups each volume has now.
func (r *sbRun) countBackups(ctx context.Context, s *Spec) {
	for _, v := range r.vols {
		bs, err := s.Client().ListBackups(ctx, v.name)
		Expect(err).NotTo(HaveOccurred(), "list backups of %s", v.name)
		v.backups = len(bs)
	}
}

// sbCreate creates v on a seeded node, attached, connected.
func sbCreate(ctx context.Context, s *Spec, v *sbVolume) {
	nodes := s.Env.Cluster.Nodes()
	v.node = nodes[s.Rand.Intn(len(nodes))].Name
	_, v.dev = createAttached(ctx, s, api.VolumeCreateRequest{Name: v.name, Size: sbSize, NumberOfReplicas: v.replicas,
		BackingImage: v.image, BackupTargetName: v.target}, v.node)
	DeferCleanup(func() {
		if v.dev != nil {
			v.dev.Close()
		}
	})
}

// sbWrite writes count random 4 KiB blocks over [off, off+length) of v
// and flushes; the restored volume must hold them.
func sbWrite(ctx context.Context, s *Spec, v *sbVolume, off, length int64, count int, writer uint32) *workload.History {
	gen := seedWorkload(s, v.name, off, length, count, writer)
	seedWriteFlush(ctx, gen, v.dev)
	v.writes = append(v.writes, gen.History())
	return gen.History()
}

// sbDetach digests v, disconnects and detaches it.
func sbDetach(ctx context.Context, s *Spec, v *sbVolume) {
	v.digest = seedDigest(ctx, s, v.dev)
	v.dev.Close()
	v.dev = nil
	_, err := s.Client().DetachVolume(ctx, v.name)
	Expect(err).NotTo(HaveOccurred(), "detach %s", v.name)
	s.WaitVolumeState(ctx, v.name, api.VolumeDetached, time.Minute)
}

// sbDelete disconnects, detaches and deletes v and waits until it is gone.
func sbDelete(ctx context.Context, s *Spec, v *sbVolume) {
	c := s.Client()
	if v.dev != nil {
		v.dev.Close()
		v.dev = nil
	}
	_, err := c.DetachVolume(ctx, v.name)
	Expect(err).NotTo(HaveOccurred(), "detach %s", v.name)
	s.WaitVolumeState(ctx, v.name, api.VolumeDetached, time.Minute)
	_, err = c.DeleteVolume(ctx, v.name)
	Expect(err).NotTo(HaveOccurred(), "delete %s", v.name)
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = c.WaitVolume(dctx, v.name, func(x api.Volume) bool { return x.Name == "" })
	Expect(err).NotTo(HaveOccurred(), "volume %s gone", v.name)
}

// sbRestoredView is what a volume re-created by a system restore shows
// once its own restore finished.
type sbRestoredView struct {
	Action          string // of the restore's object for the volume
	State           string
	RestoreRequired bool
	// Finished: created empty, or Restore condition False/RestoreCompleted.
	Finished bool
}

// sbSourceView is where the restore took a volume's data from.
type sbSourceView struct {
	// FromBackup is the backup spec.fromBackup names ("" for none).
	FromBackup string
	// OwnTarget: spec.fromBackup is on the volume's own target, which is
	// Target.
	OwnTarget bool
	Target    string
}

// sbVerifyRestored is step 6 for one volume: the restore created it, its
// own restore finished and it detached (state-converge, which stops the
// scenario); it was created from the backup it must use on its own target
// (or empty); attached, it reads as recorded, holds every flushed write
// of its histories and its replicas are equal. Those last verdicts are
// noted, so that a volume restored from the wrong backup still shows what
// it lost.
func sbVerifyRestored(ctx context.Context, s *Spec, r *sbRun, rs api.SystemRestore, v *sbVolume) {
	if v.skipped {
		sbVerifySkipped(ctx, s, r, rs, v)
		return
	}
	c := s.Client()
	what := fmt.Sprintf("vol-%s %s created by the restore, its restore finished, detached", v.key, v.name)
	s.Step(what)
	var last api.Volume
	seedCheckQuiet(s, seedAwait(ctx, s, what, r.restoreStart, sbRestoreDeadline, func(ctx context.Context) (sbRestoredView, error) {
		x, err := c.GetVolume(ctx, v.name)
		last = x
		return sbRestoredView{Action: sbObjectAction(rs, v.name), State: x.Status.State, RestoreRequired: x.Status.RestoreRequired,
			Finished: x.Name != "" && (x.Spec.FromBackup == "" || conditionString(x, api.ConditionRestore) == "false/"+api.RestoreReasonCompleted)}, err
	}, sbRestoredView{Action: api.RestoreActionCreated, State: api.VolumeDetached, Finished: true}))
	got := sbSourceView{Target: sbTargetOf(last.Spec.BackupTargetName)}
	if last.Spec.FromBackup != "" {
		u, _, backup, err := api.ParseBackupURL(last.Spec.FromBackup)
		Expect(err).NotTo(HaveOccurred(), "spec.fromBackup of %s", v.name)
		got.FromBackup, got.OwnTarget = backup, u == sbTargetURL(ctx, s, got.Target)
	}
	from := "from " + v.want
	if v.want == "" {
		from = "empty (no backup recorded)"
	}
	r.note(s, diffVerdict("state-converge", fmt.Sprintf("the restore created vol-%s %s %s on its own target %s", v.key, v.name, from, v.target),
		sbSourceView{FromBackup: v.want, OwnTarget: v.want != "", Target: sbTargetOf(v.target)}, got))
	node := drUpNode(ctx, s)
	s.Step(fmt.Sprintf("attach %s to %s: digest as recorded, %d histories clean, replicas equal", v.name, node, len(v.writes)))
	_, err := c.AttachVolume(ctx, v.name, node)
	Expect(err).NotTo(HaveOccurred(), "attach %s", v.name)
	x := seedAwaitVolume(ctx, s, v.name, time.Now(), 2*time.Minute, volumeWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy})
	v.dev = seedDial(ctx, s, x.Status.Endpoint, time.Minute)
	sbCheckData(ctx, s, r, v)
}

// sbTargetOf names a volume's target ("" is the default one).
func sbTargetOf(t string) string {
	if t == "" {
		return api.DefaultBackupTarget
	}
	return t
}

// sbCheckData notes checksum-equal, history (flushed writes) and
// replicas-equal for v through its connection.
func sbCheckData(ctx context.Context, s *Spec, r *sbRun, v *sbVolume) {
	got, err := checksum.Digest(ctx, v.dev)
	if err != nil {
		r.note(s, checkers.Verdict{Checker: "checksum-equal", Outcome: checkers.Unknown, Summary: "cannot read " + v.name + ": " + err.Error()})
	} else {
		eq := checksum.Checker{}.Equal(v.digest, got)
		eq.Summary = v.name + ": " + eq.Summary
		r.note(s, eq)
	}
	strict := history.Checker{AckedIsDurable: true}
	for _, h := range v.writes {
		hv := strict.Check(ctx, h, v.dev)
		hv.Summary = v.name + ": " + hv.Summary
		r.note(s, hv)
	}
	r.note(s, s.Integrity().ReplicasEqual(ctx, v.name))
}

// sbObjectAction is what restore rs did with volume name ("" if nothing).
func sbObjectAction(rs api.SystemRestore, name string) string {
	for _, o := range rs.Status.Objects {
		if o.Kind == api.KindVolume && o.Name == name {
			return o.Action
		}
	}
	return ""
}
