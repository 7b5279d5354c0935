package scenarios

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/bundle"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/timeline"
)

// sbTake creates system backup name with policy ("" for the default) and
// waits until it is Ready, failing at once when it goes to Error. during
// runs right after the create call, while the system backup works. Every
// state it passes through goes on the timeline (lane system-backup/NAME).
// The system backup is deleted in the spec's cleanup.
func sbTake(ctx context.Context, s *Spec, r *sbRun, name, policy string, during func()) api.SystemBackup {
	c := s.Client()
	DeferCleanup(func(ctx SpecContext) {
		_, err := c.DeleteSystemBackup(ctx, name)
		if api.IsNotFound(err) {
			return
		}
		Expect(err).NotTo(HaveOccurred(), "delete system backup %s", name)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err = c.WaitSystemBackup(wctx, name, func(b api.SystemBackup) bool { return b.Name == "" })
		Expect(err).NotTo(HaveOccurred(), "system backup %s gone", name)
	}, NodeTimeout(2*time.Minute))
	start := time.Now()
	_, err := c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: name, VolumeBackupPolicy: policy})
	Expect(err).NotTo(HaveOccurred(), "create system backup %s", name)
	if during != nil {
		during()
	}
	last := sbAwaitState(ctx, s, "system backup", name, "system-backup/"+name, start, sbReadyDeadline, api.SystemBackupStateReady, api.SystemBackupStateError,
		func(ctx context.Context) (api.SystemBackup, sbObserved, error) {
			b, err := c.GetSystemBackup(ctx, name)
			return b, sbObserved{state: b.Status.State, err: b.Status.Error, what: "volumes", detail: sbVolumesLine(b)}, err
		})
	s.Env.progressf("     %s: system backup %s Ready after %v: %s", s.Name, name, time.Since(start).Round(time.Millisecond), sbVolumesLine(last))
	return last
}

// sbVolumesLine renders what a system backup did per volume.
func sbVolumesLine(b api.SystemBackup) string {
	out := ""
	for i, v := range b.Status.Volumes {
		if i > 0 {
			out += "; "
		}
		out += v.Volume + ": "
		switch {
		case v.Backup != "":
			out += "backup " + v.Backup
		default:
			out += "skipped (" + v.Skipped + ")"
		}
		if v.MaintenanceNode != "" {
			out += fmt.Sprintf(" (maintenance on %s, detached %t)", v.MaintenanceNode, v.Detached)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sbTook is one volume's part in a system backup as the checks compare it.
type sbTook struct {
	// Backups is how many backups of the volume the manager lists.
	Backups int
	// Skipped is the system backup's reason to take none.
	Skipped string
	// State, Label and Target describe the backup it took, if any.
	State, Label, Target string
}

// sbCheckTook checks step 3's "each volume got a new backup" under policy:
// if-not-present and always back up every volume of the run (its backup
// count goes up by one; the backup is Completed, labelled with the system
// backup's name, on the volume's own target); disabled backs up none
// (counts unchanged, skipped "policy disabled"); the DR volume is skipped
// ("standby") either way. It sets each volume's want to the backup a
// restore must use.
func sbCheckTook(ctx context.Context, s *Spec, r *sbRun, sb api.SystemBackup, policy string) {
	c := s.Client()
	want, got := map[string]sbTook{}, map[string]sbTook{}
	took := map[string]api.SystemBackupVolume{}
	for _, t := range sb.Status.Volumes {
		took[t.Volume] = t
	}
	for _, v := range r.vols {
		t := took[v.name]
		bs, err := c.ListBackups(ctx, v.name)
		Expect(err).NotTo(HaveOccurred(), "list backups of %s", v.name)
		g := sbTook{Backups: len(bs), Skipped: t.Skipped}
		for _, b := range bs {
			if b.Name == t.Backup {
				g.State, g.Label, g.Target = b.Status.State, b.Spec.Labels[api.SystemBackupLabel], b.Spec.BackupTargetName
			}
		}
		if t.Backup != "" && g.State == "" {
			g.State = "not listed: " + t.Backup
		}
		got[v.name] = g
		if policy == api.VolumeBackupPolicyDisabled {
			want[v.name] = sbTook{Backups: v.backups, Skipped: "policy disabled"}
			continue
		}
		want[v.name] = sbTook{Backups: v.backups + 1, State: api.BackupStateCompleted, Label: sb.Name, Target: v.target}
		v.backups++
		v.want = t.Backup
	}
	if r.dr != "" {
		bs, err := c.ListBackups(ctx, r.dr)
		Expect(err).NotTo(HaveOccurred(), "list backups of %s", r.dr)
		want[r.dr] = sbTook{Skipped: "standby"}
		got[r.dr] = sbTook{Backups: len(bs), Skipped: took[r.dr].Skipped}
		if took[r.dr].Backup != "" {
			got[r.dr] = sbTook{Backups: len(bs), Skipped: took[r.dr].Skipped, State: "took " + took[r.dr].Backup}
		}
	}
	what := fmt.Sprintf("system backup %s (policy %s) backed up every volume once on its own target and skipped the DR volume", sb.Name, policy)
	if policy == api.VolumeBackupPolicyDisabled {
		what = fmt.Sprintf("system backup %s (policy disabled) took no backup", sb.Name)
	}
	s.Check(diffVerdict("system-backup-volumes", what, want, got))
}

// sbMaintenanceView is what a volume the run detached must show again
// after the system backup.
type sbMaintenanceView struct {
	State           string
	DisableFrontend bool
}

// sbAwaitMaintenanceDone waits until every volume the run had detached is
// detached again, without the maintenance flag.
func sbAwaitMaintenanceDone(ctx context.Context, s *Spec, r *sbRun, sb api.SystemBackup) {
	c := s.Client()
	for _, v := range r.vols {
		if !v.detach {
			continue
		}
		seedCheckQuiet(s, seedAwait(ctx, s, fmt.Sprintf("%s detached again after the system backup's maintenance attach", v.name), time.Now(), time.Minute,
			func(ctx context.Context) (sbMaintenanceView, error) {
				x, err := c.GetVolume(ctx, v.name)
				return sbMaintenanceView{State: x.Status.State, DisableFrontend: x.Spec.DisableFrontend}, err
			}, sbMaintenanceView{State: api.VolumeDetached}))
	}
}

// sbBundleConsistency reads the bundle back from the default target, the
// backups and the backup volumes (synced with their targets) and runs
// bundle-consistency.
func sbBundleConsistency(ctx context.Context, s *Spec, sb api.SystemBackup) checkers.Verdict {
	c := s.Client()
	unknown := func(what string, err error) checkers.Verdict {
		return checkers.Verdict{Checker: bundle.Name, Outcome: checkers.Unknown, At: time.Now(), Summary: fmt.Sprintf("%s: %v", what, err)}
	}
	s.Step("bundle-consistency: the bundle of " + sb.Name + " records, per volume, the backup it took, the newest on its target, Completed")
	b, err := c.SystemBackupBundle(ctx, sb.Name)
	if err != nil {
		return unknown("read the bundle of "+sb.Name, err)
	}
	backups, err := c.ListBackups(ctx, "")
	if err != nil {
		return unknown("list backups", err)
	}
	bvs, err := c.ListBackupVolumes(ctx, true)
	if err != nil {
		return unknown("list backup volumes", err)
	}
	return checkers.Record(s.Timeline, bundle.Check(bundle.Input{SystemBackup: sb, Bundle: b, Backups: backups, BackupVolumes: bvs}))
}

// sbDRStayedAttached is step 3's DR check: from since (before the system
// backup) for sbDRWindow the DR volume is seen attached and standby
// without a break, and the change stream never showed it in another state.
func sbDRStayedAttached(ctx context.Context, s *Spec, dr string, since time.Time) {
	c := s.Client()
	type view struct {
		State   string
		Standby bool
	}
	hold := max(time.Until(since.Add(sbDRWindow)), 0)
	s.Check(seedAwaitHeld(ctx, s, fmt.Sprintf("DR volume %s attached and standby until %v after the window began", dr, sbDRWindow), since, hold+30*time.Second, hold,
		func(ctx context.Context) (view, error) {
			v, err := c.GetVolume(ctx, dr)
			return view{State: v.Status.State, Standby: v.Status.IsStandby}, err
		}, view{State: api.VolumeAttached, Standby: true}))
	notAttached := state.Condition{What: "volume " + dr + " not attached", Holds: func(x state.Sample) bool {
		return x.Kind == state.KindVolume && x.Name == dr && x.State != api.VolumeAttached
	}}
	s.Check(state.Never(samplesSince(s.States.Samples(), since), notAttached, 0, time.Now()))
}

// sbRestore restores system backup sb and waits until the restore is
// Completed, failing at once on Error. It passes the secret keys of the
// run's S3 targets the restore must re-create (those missing now).
func sbRestore(ctx context.Context, s *Spec, r *sbRun, sb string) api.SystemRestore {
	c := s.Client()
	name := r.names.object("r")
	secrets := map[string]string{}
	for t, secret := range r.secrets {
		if _, err := c.GetBackupTarget(ctx, t); api.IsNotFound(err) {
			secrets[t] = secret
		}
	}
	s.Step(fmt.Sprintf("system restore %s of %s (secret keys given for %d targets to re-create); wait for Completed", name, sb, len(secrets)))
	DeferCleanup(func(ctx SpecContext) {
		// A restore still running (409) means the spec failed already;
		// its record is left for the report's logs.
		err := c.DeleteSystemRestore(ctx, name)
		if err != nil && !api.IsNotFound(err) && !api.IsCode(err, http.StatusConflict) {
			Expect(err).NotTo(HaveOccurred(), "delete system restore %s", name)
		}
	}, NodeTimeout(time.Minute))
	start := time.Now()
	r.restoreStart = start
	_, err := c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: name, SystemBackup: sb, TargetSecrets: secrets})
	Expect(err).NotTo(HaveOccurred(), "create system restore %s", name)
	last := sbAwaitState(ctx, s, "system restore", name, "system-restore/"+name, start, sbRestoreDeadline, api.SystemRestoreStateCompleted, api.SystemRestoreStateError,
		func(ctx context.Context) (api.SystemRestore, sbObserved, error) {
			x, err := c.GetSystemRestore(ctx, name)
			return x, sbObserved{state: x.Status.State, err: x.Status.Error, what: "objects", detail: sbObjectsLine(x)}, err
		})
	s.Env.progressf("     %s: system restore %s Completed after %v: %s", s.Name, name, time.Since(start).Round(time.Millisecond), sbObjectsLine(last))
	return last
}

// sbObjectsLine renders what a restore did with each object.
func sbObjectsLine(x api.SystemRestore) string {
	out := ""
	for i, o := range x.Status.Objects {
		if i > 0 {
			out += "; "
		}
		out += o.Kind + " " + o.Name + ": " + o.Action
		if o.Reason != "" {
			out += " (" + o.Reason + ")"
		}
	}
	return out
}

// sbTargetURL is a target's URL now.
func sbTargetURL(ctx context.Context, s *Spec, name string) string {
	bt, err := s.Client().GetBackupTarget(ctx, name)
	Expect(err).NotTo(HaveOccurred(), "read backup target %s", name)
	return bt.Spec.URL
}

// sbCheckTargetBack is step 6's first check: the deleted target is back,
// at its old URL, and available.
func sbCheckTargetBack(ctx context.Context, s *Spec, r *sbRun, name string) {
	s.Step("target " + name + " is back at " + r.extraURL + " and available")
	bt, err := waitBackupTargetAvailable(ctx, s.Client(), name, backupTargetReadyDeadline)
	got := map[string]string{"url": bt.Spec.URL, "available": fmt.Sprint(bt.Status.Available)}
	if err != nil {
		got["error"] = err.Error()
	}
	s.Check(diffVerdict("state-converge", "the system restore re-created target "+name, map[string]string{"url": r.extraURL, "available": "true"}, got))
}

// sbUploadImage uploads a backing image of seeded random data, waits
// until it is ready and returns its sha512; it is deleted in cleanup.
func sbUploadImage(ctx context.Context, s *Spec, name string) (sha string) {
	c := s.Client()
	s.Step(fmt.Sprintf("upload backing image %s (%d MiB of random data)", name, sbSize>>20))
	data := make([]byte, sbSize)
	s.Rand.Read(data)
	h := sha512.Sum512(data)
	sum := hex.EncodeToString(h[:])
	DeferCleanup(func(ctx SpecContext) {
		if err := c.DeleteBackingImage(ctx, name); err != nil && !api.IsNotFound(err) && !api.IsCode(err, http.StatusConflict) {
			Expect(err).NotTo(HaveOccurred(), "delete backing image %s", name)
		}
	}, NodeTimeout(time.Minute))
	_, err := c.UploadBackingImage(ctx, name, bytes.NewReader(data), sum)
	Expect(err).NotTo(HaveOccurred(), "upload backing image %s", name)
	seedWaitBackingImage(ctx, s, name, time.Minute)
	return sum
}

// sbDeleteImage deletes the backing image and waits until it is gone.
func sbDeleteImage(ctx context.Context, s *Spec, name string) {
	c := s.Client()
	Expect(c.DeleteBackingImage(ctx, name)).To(Succeed(), "delete backing image %s", name)
	seedCheckQuiet(s, seedAwait(ctx, s, "backing image "+name+" gone", time.Now(), time.Minute,
		func(ctx context.Context) (bool, error) {
			_, err := c.GetBackingImage(ctx, name)
			if api.IsNotFound(err) {
				return true, nil
			}
			return false, err
		}, true))
}

// sbCheckImageBack: the restore re-created the backing image from the
// bundle, with the same contents.
func sbCheckImageBack(ctx context.Context, s *Spec, r *sbRun) {
	if r.image == "" {
		return
	}
	s.Step("backing image " + r.image + " is back, ready, same sha512")
	bi := seedWaitBackingImage(ctx, s, r.image, sbRestoreDeadline)
	s.Check(diffVerdict("state-converge", "the system restore re-created backing image "+r.image+" with its contents",
		map[string]string{"sha512": r.imageSHA}, map[string]string{"sha512": bi.Status.SHA512}))
}

// sbObserved is what sbAwaitState reads of a system backup or restore.
type sbObserved struct {
	state, err   string
	what, detail string
}

// sbAwaitState waits until the object (kind name) reaches want, putting
// every state it passes through on the timeline lane and failing
// state-converge at once when it reaches failed.
func sbAwaitState[T any](ctx context.Context, s *Spec, kind, name, lane string, start time.Time, deadline time.Duration, want, failed string,
	get func(context.Context) (T, sbObserved, error)) T {
	var last T
	seen := ""
	seedCheckQuiet(s, seedAwait(ctx, s, fmt.Sprintf("%s %s %s", kind, name, want), start, deadline,
		func(ctx context.Context) (string, error) {
			x, o, err := get(ctx)
			if err != nil {
				return "", err
			}
			last = x
			if o.state != seen {
				seen = o.state
				s.Timeline.Add(timeline.Event{Time: time.Now(), Kind: timeline.KindState, Lane: lane, Name: orDash(o.state),
					Detail: map[string]string{"error": o.err, o.what: o.detail}})
			}
			if o.state == failed {
				s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
					Summary:  fmt.Sprintf("%s %s went to %s: %s", kind, name, failed, o.err),
					Evidence: []checkers.Evidence{{What: o.what, Actual: o.detail}}})
			}
			return o.state, nil
		}, want))
	return last
}
