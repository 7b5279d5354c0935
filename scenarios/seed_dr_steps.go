package scenarios

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/gomega"

	"github.com/google/go-cmp/cmp"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/timeline"
)

// drBackup backs the volume up and waits until the backup is Completed and
// its backup volume names it as the last backup.
func drBackup(ctx context.Context, s *Spec, volume, target string) api.Backup {
	c := s.Client()
	b, err := c.CreateBackup(ctx, api.BackupCreateRequest{Volume: volume})
	Expect(err).NotTo(HaveOccurred(), "create backup of %s", volume)
	var last api.Backup
	seedCheckQuiet(s, seedAwait(ctx, s, "backup "+b.Name+" Completed", time.Now(), 2*time.Minute,
		func(ctx context.Context) (string, error) {
			x, err := c.GetBackup(ctx, b.Name)
			last = x
			if x.Status.State == api.BackupStateError {
				return x.Status.State + ": " + x.Status.Error, err
			}
			return x.Status.State, err
		}, api.BackupStateCompleted))
	bv := api.BackupVolumeName(target, volume)
	seedCheckQuiet(s, seedAwait(ctx, s, "backup volume "+bv+" lists "+b.Name, time.Now(), time.Minute,
		func(ctx context.Context) (string, error) {
			x, err := c.GetBackupVolume(ctx, bv)
			return x.Status.LastBackupName, err
		}, b.Name))
	s.Env.progressf("     %s: backup %s of %s: %d bytes read, %d uploaded", s.Name, b.Name, volume, last.Status.BytesRead, last.Status.BytesUploaded)
	return last
}

// restoreWatch puts every change of a DR volume's restore on the timeline
// (per replica: backup, progress, lastRestored, state; per volume: the
// Restore and Ready conditions and the node) and keeps the volume's
// observations for the checks.
type restoreWatch struct {
	mu   sync.Mutex
	seen []restoreSeen
}

// restoreSeen is one observation of the DR volume.
type restoreSeen struct {
	At              time.Time
	State, Node     string
	Restore, Ready  string // "True/Reason" or "False/Reason"
	RestoreRequired bool
	LastRestored    string
}

func (w *restoreWatch) snapshot() []restoreSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]restoreSeen(nil), w.seen...)
}

func conditionString(v api.Volume, typ string) string {
	for _, cd := range v.Status.Conditions {
		if cd.Type == typ {
			return fmt.Sprintf("%t/%s", cd.Status, cd.Reason)
		}
	}
	return ""
}

// drWatchRestore starts the watch; stop ends it.
func drWatchRestore(ctx context.Context, s *Spec, dr string) (w *restoreWatch, stop func()) {
	c := s.Client()
	w = &restoreWatch{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := map[string]string{}
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := c.GetVolume(ctx, dr); err == nil {
				o := restoreSeen{At: time.Now(), State: v.Status.State, Node: v.Status.Node,
					Restore: conditionString(v, api.ConditionRestore), Ready: conditionString(v, api.ConditionReady),
					RestoreRequired: v.Status.RestoreRequired}
				if engs, err := c.ListEngines(ctx, dr); err == nil && len(engs) == 1 {
					o.LastRestored = engs[0].Status.LastRestoredBackup
				}
				w.mu.Lock()
				w.seen = append(w.seen, o)
				w.mu.Unlock()
				key := fmt.Sprintf("%s %s restore=%s ready=%s lastRestored=%s", o.State, o.Node, o.Restore, o.Ready, o.LastRestored)
				if last[dr] != key {
					last[dr] = key
					s.Timeline.Add(timeline.Event{Time: o.At, Kind: timeline.KindState, Lane: "restore/" + dr, Name: o.Restore,
						Detail: map[string]string{"state": o.State, "node": o.Node, "ready": o.Ready, "lastRestoredBackup": o.LastRestored, "lastBackup": v.Status.LastBackup}})
				}
			}
			if reps, err := c.ListReplicas(ctx, dr); err == nil {
				for _, r := range reps {
					if r.Status.Restore == nil {
						continue
					}
					st := r.Status.Restore
					key := fmt.Sprintf("%s %d %s %s %s", st.Backup, st.Progress/10, st.LastRestored, st.State, st.Error)
					if last[r.Name] == key {
						continue
					}
					last[r.Name] = key
					s.Timeline.Add(timeline.Event{Time: time.Now(), Kind: timeline.KindState, Lane: "restore/" + r.Name, Name: st.State,
						Detail: map[string]string{"backup": st.Backup, "progress": fmt.Sprintf("%d%%", st.Progress),
							"lastRestored": st.LastRestored, "error": st.Error, "bytesPulled": fmt.Sprint(st.BytesPulled), "node": r.Spec.Node}})
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w, func() { cancel(); <-done }
}

// drAwaitRestoring waits until a replica of the DR volume is restoring
// backup (the restore started) or the engine already holds it.
func drAwaitRestoring(ctx context.Context, s *Spec, dr, backup string) {
	c := s.Client()
	seedCheckQuiet(s, seedAwait(ctx, s, fmt.Sprintf("restore of %s into %s started", backup, dr), time.Now(), 2*time.Minute,
		func(ctx context.Context) (bool, error) {
			if engs, err := c.ListEngines(ctx, dr); err == nil && len(engs) == 1 && engs[0].Status.LastRestoredBackup == backup {
				return true, nil
			}
			reps, err := c.ListReplicas(ctx, dr)
			for _, r := range reps {
				if st := r.Status.Restore; st != nil && st.IsRestoring && st.Backup == backup {
					return true, nil
				}
			}
			return false, err
		}, true))
}

// drView is what a following DR volume must show.
type drView struct {
	State, LastBackup, LastRestored string
	Standby, RestoreRequired        bool
}

// drObserve reads the DR volume's view.
func drObserve(ctx context.Context, s *Spec, dr string) (drView, api.Volume, error) {
	c := s.Client()
	v, err := c.GetVolume(ctx, dr)
	if err != nil {
		return drView{}, v, err
	}
	out := drView{State: v.Status.State, LastBackup: v.Status.LastBackup, Standby: v.Status.IsStandby, RestoreRequired: v.Status.RestoreRequired}
	engs, err := c.ListEngines(ctx, dr)
	if err == nil && len(engs) == 1 {
		out.LastRestored = engs[0].Status.LastRestoredBackup
	}
	return out, v, err
}

// drAwaitCaughtUp waits until the DR volume is attached, standby and holds
// backup, failing early through state-never when it stays faulted.
func drAwaitCaughtUp(ctx context.Context, s *Spec, dr, backup string, since time.Time, deadline time.Duration) api.Volume {
	var last api.Volume
	want := drView{State: api.VolumeAttached, LastBackup: backup, LastRestored: backup, Standby: true, RestoreRequired: true}
	seedCheckQuiet(s, seedAwait(ctx, s, fmt.Sprintf("DR volume %s attached and caught up with %s", dr, backup), since, deadline,
		func(ctx context.Context) (drView, error) {
			if v := s.States.Never(drFaulted(dr), drFaultedLimit); !v.Passed() {
				s.Check(v)
			}
			view, v, err := drObserve(ctx, s, dr)
			last = v
			return view, err
		}, want))
	return last
}

// drCheckStandby asserts step 2's view of a DR volume that holds backup.
func drCheckStandby(ctx context.Context, s *Spec, dr, backup string) {
	c := s.Client()
	v, err := c.GetVolume(ctx, dr)
	Expect(err).NotTo(HaveOccurred())
	engs, err := c.ListEngines(ctx, dr)
	Expect(err).NotTo(HaveOccurred())
	got := map[string]string{
		"standby": fmt.Sprint(v.Status.IsStandby), "restoreRequired": fmt.Sprint(v.Status.RestoreRequired),
		"lastBackup": v.Status.LastBackup, "frontend": v.Spec.Frontend, "endpoint": v.Status.Endpoint,
	}
	if len(engs) == 1 {
		got["requestedBackupRestore"] = engs[0].Spec.RequestedBackupRestore
	}
	_, snapErr := c.SnapshotVolume(ctx, dr, "not-allowed")
	_, backupErr := c.CreateBackup(ctx, api.BackupCreateRequest{Volume: dr})
	got["snapshot refused"] = fmt.Sprint(api.IsCode(snapErr, 400))
	got["backup refused"] = fmt.Sprint(api.IsCode(backupErr, 400))
	want := map[string]string{
		"standby": "true", "restoreRequired": "true", "lastBackup": backup, "frontend": "", "endpoint": "",
		"requestedBackupRestore": backup, "snapshot refused": "true", "backup refused": "true",
	}
	s.Check(diffVerdict("state-converge", "DR volume "+dr+" is standby, follows "+backup+", has no frontend and refuses snapshots and backups", want, got))
}

// drFaulted is the state-never condition: the DR volume faulted.
func drFaulted(dr string) state.Condition {
	c := state.RobustnessIs(api.RobustnessFaulted)
	return state.Condition{What: "volume " + dr + " " + c.What, Holds: func(x state.Sample) bool {
		return x.Kind == state.KindVolume && x.Name == dr && c.Holds(x)
	}}
}

// drFaultDuringRestore waits for the restore of backup to run, then
// injects the variant's fault at a seeded moment and, for a node stop,
// keeps the node down until the DR volume was attached elsewhere (or the
// recovery deadline passed), then starts it again. It returns when the
// fault was injected.
func drFaultDuringRestore(ctx context.Context, s *Spec, r *drRun, backup string, variant drVariant) time.Time {
	c := s.Client()
	if backup != r.b0.Name {
		seedCheckQuiet(s, seedAwait(ctx, s, "DR volume "+r.dr+" follows "+backup, time.Now(), time.Minute,
			func(ctx context.Context) (string, error) {
				v, err := c.GetVolume(ctx, r.dr)
				return v.Status.LastBackup, err
			}, backup))
	}
	drAwaitRestoring(ctx, s, r.dr, backup)
	r.before = map[string]bool{}
	reps, err := c.ListReplicas(ctx, r.dr)
	Expect(err).NotTo(HaveOccurred())
	for _, x := range reps {
		r.before[x.Name] = true
	}
	delay := s.Faults.Jitter(0, drFaultWindow)
	Expect(seedSleep(ctx, delay)).To(Succeed())
	v, err := c.GetVolume(ctx, r.dr)
	Expect(err).NotTo(HaveOccurred())
	var f faults.Fault
	switch variant {
	case drEngineCrash:
		engs, err := c.ListEngines(ctx, r.dr)
		Expect(err).NotTo(HaveOccurred())
		Expect(engs).To(HaveLen(1), "engines of DR volume %s", r.dr)
		f = faults.EngineCrash(s.Env.Cluster, engs[0].Name)
	case drTargetDown:
		r.stopped = r.endpointNode
		f = faults.NodeStop(s.Env.Cluster, r.endpointNode)
	default:
		r.stopped = v.Status.Node
		f = faults.NodeStop(s.Env.Cluster, v.Status.Node)
	}
	at := time.Now()
	s.Env.progressf("     %s: %s %v after the restore of %s was seen running (DR volume on %s)", s.Name, f.Name(), delay.Round(time.Millisecond), backup, v.Status.Node)
	Expect(s.Faults.Inject(ctx, f)).To(Succeed())
	if variant == drTargetDown {
		r.fault = f
		return at
	}
	if variant == drEngineCrash {
		Expect(s.Faults.Heal(ctx, f)).To(Succeed())
		return at
	}
	// Down longer than the node timeout, and until the volume moved.
	dctx, cancel := context.WithTimeout(ctx, drRecovery)
	for dctx.Err() == nil {
		if time.Since(at) > 10*time.Second && drMovedFrom(r.watch.snapshot(), r.stopped, at) {
			break
		}
		// A volume left faulted fails here, not after the deadline (the
		// node is started again in the cleanup).
		if v := s.States.Never(drFaulted(r.dr), drFaultedLimit); !v.Passed() {
			cancel()
			s.Check(v)
		}
		seedSleep(dctx, 250*time.Millisecond)
	}
	cancel()
	r.healedAt = time.Now()
	Expect(s.Faults.Heal(ctx, f)).To(Succeed())
	s.Env.progressf("     %s: node %s started again after %v", s.Name, r.stopped, time.Since(at).Round(time.Millisecond))
	return at
}

// drMovedFrom reports whether the DR volume was seen attached on a node
// other than node after since.
func drMovedFrom(seen []restoreSeen, node string, since time.Time) bool {
	for _, o := range seen {
		if !o.At.Before(since) && o.State == api.VolumeAttached && o.Node != "" && o.Node != node {
			return true
		}
	}
	return false
}

// drAwaitRecovered is step 6: within drRecovery the DR volume is attached,
// standby and holds backup; it moved to another node while its node was
// down; the resumed restore showed Restore True/RestoreInProgress (and,
// after an engine crash, ready false); it never stayed faulted; and the
// replicas that were restoring resumed rather than starting over.
func drAwaitRecovered(ctx context.Context, s *Spec, r *drRun, backup string, since time.Time, variant drVariant) {
	s.Step(fmt.Sprintf("recovery: DR volume %s attached, standby, caught up with %s within %v; never faulted for more than %v", r.dr, backup, drRecovery, drFaultedLimit))
	drAwaitCaughtUp(ctx, s, r.dr, backup, since, drRecovery)
	seen := r.watch.snapshot()
	v := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
		Summary: fmt.Sprintf("DR volume %s recovered and caught up with %s in %v", r.dr, backup, time.Since(since).Round(time.Millisecond))}
	fail := func(what, expected, actual string) {
		v.Outcome = checkers.Fail
		v.Summary = what
		v.Evidence = append(v.Evidence, checkers.Evidence{What: what, Expected: expected, Actual: actual})
	}
	if r.stopped != "" {
		moved := false
		for _, o := range seen {
			if !o.At.Before(since) && o.At.Before(r.healedAt) && o.State == api.VolumeAttached && o.Node != "" && o.Node != r.stopped {
				moved = true
			}
		}
		if !moved {
			fail("the DR volume was not re-attached to another node while "+r.stopped+" was down", "attached on a node other than "+r.stopped, drNodesSeen(seen, since))
		} else {
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "re-attached while " + r.stopped + " was down", Actual: drNodesSeen(seen, since)})
		}
	}
	resumed, notReady := false, false
	for _, o := range seen {
		if o.At.Before(since) {
			continue
		}
		if o.Restore == "true/"+api.RestoreReasonProgress && o.LastRestored != backup {
			resumed = true
		}
		if strings.HasPrefix(o.Ready, "false/") && o.RestoreRequired && o.State == api.VolumeAttached {
			notReady = true
		}
	}
	if !resumed {
		fail("Restore True/RestoreInProgress was never seen during the resume", "true/"+api.RestoreReasonProgress, "not seen")
	}
	if variant == drEngineCrash && !notReady {
		fail("after the engine crash the reattached DR volume was never seen not ready and restore-required", "ready false, restoreRequired", "not seen")
	}
	s.Check(v)
	if variant != drInitialNodeStop {
		s.Check(drResumeCheck(ctx, s, r, backup))
	}
	s.Check(s.States.Never(drFaulted(r.dr), drFaultedLimit))
}

// drNodesSeen lists the attached nodes the DR volume showed after since.
func drNodesSeen(seen []restoreSeen, since time.Time) string {
	var out []string
	for _, o := range seen {
		if !o.At.Before(since) && o.State == api.VolumeAttached && (len(out) == 0 || out[len(out)-1] != o.Node) {
			out = append(out, o.Node)
		}
	}
	return strings.Join(out, " → ")
}

// drResumeCheck is the spec's optional resume check: a replica that was
// restoring when the fault hit and is still there fetched at most the
// b0→b1 delta plus one block in its last restore, i.e. it resumed from its
// committed backup instead of starting a full restore over.
func drResumeCheck(ctx context.Context, s *Spec, r *drRun, backup string) checkers.Verdict {
	limit := r.deltaBytes + backupstore.BlockSize
	if r.deltaBytes == 0 {
		// b1 stored nothing new (its blocks were on the target already):
		// there is no delta to bound the pull by.
		return checkers.Verdict{Checker: "restore-resume", Outcome: checkers.Pass, At: time.Now(),
			Summary: "not checked: b1 uploaded no new block (deduplicated against backups already on the target)"}
	}
	v := checkers.Verdict{Checker: "restore-resume", Outcome: checkers.Pass, At: time.Now(),
		Summary: fmt.Sprintf("replicas that survived the fault pulled at most the delta (%d bytes) plus one block", r.deltaBytes)}
	reps, err := s.Client().ListReplicas(ctx, r.dr)
	if err != nil {
		return checkers.Verdict{Checker: "restore-resume", Outcome: checkers.Unknown, Summary: err.Error()}
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].Name < reps[j].Name })
	checked := 0
	for _, x := range reps {
		st := x.Status.Restore
		if !r.before[x.Name] || st == nil || st.Backup != backup {
			continue
		}
		checked++
		ev := checkers.Evidence{What: "replica " + x.Name + " bytes pulled for " + backup, Expected: fmt.Sprintf("≤ %d", limit), Actual: fmt.Sprint(st.BytesPulled)}
		if st.BytesPulled > limit {
			v.Outcome = checkers.Fail
			v.Summary = "a replica restarted its restore from scratch instead of resuming"
		}
		v.Evidence = append(v.Evidence, ev)
	}
	if checked == 0 {
		v.Summary = "no replica that was restoring before the fault is left to compare (all replaced)"
	}
	return v
}

// drAwaitRestoreFailed is variant (d): every replica's restore fails while
// the target is down; the DR volume must end faulted with RestoreFailure,
// never auto-salvaged, refuse attach, stay faulted after the target is back
// (Longhorn does not retry, feature #3124) and be deletable.
func drAwaitRestoreFailed(ctx context.Context, s *Spec, r *drRun, since time.Time) {
	c := s.Client()
	type failedView struct {
		Robustness, Restore string
		Salvaged            bool
	}
	want := failedView{Robustness: api.RobustnessFaulted, Restore: "false/" + api.RestoreReasonFailure}
	observe := func(ctx context.Context) (failedView, error) {
		v, err := c.GetVolume(ctx, r.dr)
		return failedView{Robustness: v.Status.Robustness, Restore: conditionString(v, api.ConditionRestore), Salvaged: !v.Status.LastSalvagedAt.IsZero()}, err
	}
	s.Step("the target is down for every replica: the DR volume must end faulted with RestoreFailure, not salvaged")
	s.Check(seedAwait(ctx, s, "DR volume "+r.dr+" faulted with RestoreFailure", since, drRecovery, observe, want))
	_, err := c.AttachVolume(ctx, r.dr, s.Env.Cluster.Nodes()[0].Name)
	s.Check(diffVerdict("state-converge", "a user attach of the failed DR volume is refused",
		map[string]bool{"refused with 409": true}, map[string]bool{"refused with 409": api.IsCode(err, 409)}))
	s.Step("start node " + r.endpointNode + " again: the target answers, the volume stays faulted (no retry: Longhorn feature #3124)")
	Expect(s.Faults.Heal(ctx, r.fault)).To(Succeed())
	s.Check(seedAwaitHeld(ctx, s, "DR volume "+r.dr+" still faulted with RestoreFailure after the target returned", time.Now(), time.Minute, 10*time.Second, observe, want))
	s.Step("delete the failed DR volume")
	_, err = c.DeleteVolume(ctx, r.dr)
	Expect(err).NotTo(HaveOccurred(), "a failed DR volume can be deleted")
	_, err = c.WaitVolume(ctx, r.dr, func(v api.Volume) bool { return v.Name == "" })
	Expect(err).NotTo(HaveOccurred())
	s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
		Summary: "negative case as Longhorn behaves: with the target unreachable from every replica the DR volume faulted (RestoreFailure), was never auto-salvaged, refused attach, stayed faulted after the target returned, and could be deleted"})
}

// drActivate activates the DR volume, retrying only on "hasn't finished
// incremental restored", then waits until it is detached and not standby.
func drActivate(ctx context.Context, s *Spec, dr string) {
	c := s.Client()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := c.ActivateVolume(ctx, dr, api.FrontendNBD)
		if err == nil {
			break
		}
		if !api.IsCode(err, 409) || !strings.Contains(err.Error(), api.ActivateNotReadyError) || time.Now().After(deadline) {
			s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(), Summary: "activation refused: " + err.Error()})
		}
		Expect(seedSleep(ctx, 500*time.Millisecond)).To(Succeed())
	}
	seedCheckQuiet(s, seedAwait(ctx, s, "activated volume "+dr+" detached and no longer standby", time.Now(), time.Minute,
		func(ctx context.Context) (drView, error) {
			v, err := c.GetVolume(ctx, dr)
			return drView{State: v.Status.State, Standby: v.Status.IsStandby, RestoreRequired: v.Status.RestoreRequired}, err
		}, drView{State: api.VolumeDetached}))
}

// drDigestEqual compares the activated volume with the source at b1.
func drDigestEqual(ctx context.Context, s *Spec, dev checkers.Device, want string) checkers.Verdict {
	got, err := checksum.Digest(ctx, dev)
	if err != nil {
		return checkers.Verdict{Checker: "checksum-equal", Outcome: checkers.Unknown, Summary: "cannot read the volume: " + err.Error()}
	}
	return diffVerdict("checksum-equal", "the activated DR volume holds what the source held at the last backup",
		map[string]string{"digest": want}, map[string]string{"digest": got})
}

// diffVerdict passes when got equals want and fails with the go-cmp diff
// otherwise.
func diffVerdict(checker, what string, want, got any) checkers.Verdict {
	v := checkers.Verdict{Checker: checker, Outcome: checkers.Pass, At: time.Now(), Summary: what}
	if d := cmp.Diff(want, got); d != "" {
		v.Outcome, v.Diff = checkers.Fail, d
		v.Summary = "not so: " + what
	}
	return v
}

// drUpNode picks a seeded node among those the manager lists as up: a node
// started again a moment ago may not have sent its first heartbeat yet.
func drUpNode(ctx context.Context, s *Spec) string {
	var up []string
	seedCheckQuiet(s, seedAwait(ctx, s, "a node up in the manager", time.Now(), time.Minute,
		func(ctx context.Context) (bool, error) {
			nodes, err := s.Client().ListNodes(ctx)
			up = up[:0]
			for _, n := range nodes {
				if n.Status.State == api.NodeUp {
					up = append(up, n.Name)
				}
			}
			return len(up) > 0, err
		}, true))
	sort.Strings(up)
	return up[s.Rand.Intn(len(up))]
}
