// Package bundle checks a system backup's bundle against the backups that
// exist: a system restore re-creates every missing volume from the
// lastBackup the bundle recorded for it, so a recorded lastBackup that is
// empty or older than the backup the system backup took restores a volume
// empty or old (Longhorn #10058, #10057). The check needs no restore: it
// compares, for every non-standby volume of the bundle, the recorded
// status.lastBackup with the backup the system backup took for it (or,
// when it took none, with the newest backup its backup volume lists) and
// with that backup volume's lastBackupName, and requires the backup to
// exist and be Completed.
package bundle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

// Name is the checker name in verdicts.
const Name = "bundle-consistency"

// Input is what the check compares: a Ready system backup, the bundle it
// stored (read back from the default target), and the backups and backup
// volumes the manager lists after it.
type Input struct {
	SystemBackup  api.SystemBackup
	Bundle        api.SystemBackupBundle
	Backups       []api.Backup
	BackupVolumes []api.BackupVolume
}

// Check returns Pass when every volume of the bundle records the backup a
// restore must use, Fail with one evidence line per volume that does not
// (naming the volume, what the bundle recorded and what was expected), and
// Unknown when the input is not a Ready system backup with its bundle.
func Check(in Input) checkers.Verdict {
	sb := in.SystemBackup
	switch {
	case sb.Status.State != api.SystemBackupStateReady:
		return checkers.Verdict{Checker: Name, Outcome: checkers.Unknown, At: time.Now(),
			Summary: fmt.Sprintf("system backup %q is %q, not Ready: no bundle to check", sb.Name, sb.Status.State)}
	case in.Bundle.Name != sb.Name:
		return checkers.Verdict{Checker: Name, Outcome: checkers.Unknown, At: time.Now(),
			Summary: fmt.Sprintf("the bundle read back is named %q, not %q", in.Bundle.Name, sb.Name)}
	}
	x := newIndex(in)
	var ev []checkers.Evidence
	var failures []string
	for _, v := range sortedVolumes(in.Bundle.Volumes) {
		f := x.judge(sb.Name, v)
		if f.failure != "" {
			failures = append(failures, f.failure)
		}
		ev = append(ev, f.evidence)
	}
	for _, t := range sb.Status.Volumes {
		if !x.inBundle[t.Volume] {
			failures = append(failures, "volume "+t.Volume+": the system backup lists it but the bundle does not hold it")
			ev = append(ev, checkers.Evidence{What: "volume " + t.Volume, Expected: "in the bundle",
				Actual: "missing from the bundle", Detail: "the system backup lists it (backup " + orNone(t.Backup) + ")"})
		}
	}
	v := checkers.Verdict{Checker: Name, Outcome: checkers.Pass, At: time.Now(), Evidence: ev,
		Summary: fmt.Sprintf("system backup %s: each of the %d volumes in the bundle records the backup a restore must use", sb.Name, len(in.Bundle.Volumes))}
	if len(failures) > 0 {
		v.Outcome = checkers.Fail
		v.Summary = fmt.Sprintf("system backup %s: %d of %d volumes wrong: %s", sb.Name, len(failures), len(in.Bundle.Volumes), strings.Join(failures, "; "))
	}
	return v
}

// finding is the result for one volume: failure says what is wrong
// ("" when nothing is), evidence is its line in the verdict.
type finding struct {
	failure  string
	evidence checkers.Evidence
}

// index looks backups, backup volumes and the system backup's per-volume
// record up by name.
type index struct {
	backups  map[string]api.Backup
	bvs      map[string]api.BackupVolume // by api.BackupVolumeName(target, volume)
	took     map[string]api.SystemBackupVolume
	inBundle map[string]bool
}

func newIndex(in Input) *index {
	x := &index{backups: map[string]api.Backup{}, bvs: map[string]api.BackupVolume{},
		took: map[string]api.SystemBackupVolume{}, inBundle: map[string]bool{}}
	for _, b := range in.Backups {
		x.backups[b.Name] = b
	}
	for _, bv := range in.BackupVolumes {
		x.bvs[api.BackupVolumeName(targetName(bv.Spec.BackupTargetName), bv.Spec.VolumeName)] = bv
	}
	for _, t := range in.SystemBackup.Status.Volumes {
		x.took[t.Volume] = t
	}
	for _, v := range in.Bundle.Volumes {
		x.inBundle[v.Name] = true
	}
	return x
}

// judge decides one volume of the bundle.
func (x *index) judge(sbName string, v api.Volume) finding {
	what := "volume " + v.Name
	recorded := v.Status.LastBackup
	fail := func(expected, actual, detail string) finding {
		return finding{failure: what + ": expected " + expected + ", got " + actual,
			evidence: checkers.Evidence{What: what, Expected: expected, Actual: actual, Detail: detail}}
	}
	took, ok := x.took[v.Name]
	if !ok {
		return fail("an entry in the system backup's status.volumes", "none", "the system backup does not say what it did for this volume")
	}
	if v.Spec.Standby || v.Status.IsStandby {
		if took.Backup != "" {
			return fail("no backup (standby volume)", "backup "+took.Backup, "a system backup must skip DR volumes")
		}
		return finding{evidence: checkers.Evidence{What: what, Actual: "standby, skipped (" + took.Skipped + ")"}}
	}
	target := targetName(v.Spec.BackupTargetName)
	if took.BackupTargetName != "" && took.BackupTargetName != target {
		return fail("backup target "+target, "backup target "+took.BackupTargetName, "the system backup's record and the bundle name different targets")
	}
	source := sourceVolume(v)
	bvName := api.BackupVolumeName(target, source)
	bv, haveBV := x.bvs[bvName]
	expected, because := took.Backup, "the backup system backup "+sbName+" took"
	if took.Backup == "" {
		if took.Skipped == "" {
			return fail("a backup or a reason to skip", "neither", "status.volumes names no backup and no reason")
		}
		expected, because = bv.Status.LastBackupName, "the newest backup on "+target+" (skipped: "+took.Skipped+")"
	}
	if recorded != expected {
		f := fail("lastBackup "+orNone(expected)+" ("+because+")", "lastBackup "+orNone(recorded),
			"a restore would create the volume "+restoredAs(recorded))
		f.failure = fmt.Sprintf("volume %s: bundle records lastBackup %s, expected %s (%s): a restore would create it %s",
			v.Name, orNone(recorded), orNone(expected), because, restoredAs(recorded))
		return f
	}
	if expected == "" {
		return finding{evidence: checkers.Evidence{What: what, Expected: "no lastBackup", Actual: "no lastBackup",
			Detail: "never backed up on " + target + " (" + took.Skipped + "): a restore creates it empty"}}
	}
	switch {
	case !haveBV:
		return fail("backup volume "+bvName+" on "+target+" listing "+expected, "no such backup volume", "")
	case bv.Status.LastBackupName != expected:
		return fail("backup volume "+bvName+" lastBackupName "+expected, "lastBackupName "+orNone(bv.Status.LastBackupName),
			"the bundle's lastBackup is not the newest backup on the target")
	}
	b, ok := x.backups[expected]
	switch {
	case !ok:
		return fail("backup "+expected+" Completed", "missing", "the backup the bundle records does not exist")
	case b.Status.State != api.BackupStateCompleted:
		return fail("backup "+expected+" Completed", "backup "+expected+" "+b.Status.State, b.Status.Error)
	case b.Spec.Volume != source || targetName(b.Spec.BackupTargetName) != target:
		return fail("backup "+expected+" of "+source+" on "+target,
			"backup of "+b.Spec.Volume+" on "+targetName(b.Spec.BackupTargetName), "")
	case took.Backup != "" && b.Spec.Labels[api.SystemBackupLabel] != sbName:
		return fail("label "+api.SystemBackupLabel+"="+sbName, "label "+orNone(b.Spec.Labels[api.SystemBackupLabel]), "")
	}
	return finding{evidence: checkers.Evidence{What: what, Expected: "lastBackup " + expected, Actual: "lastBackup " + recorded,
		Detail: because + "; Completed; the newest on " + target}}
}

// sourceVolume is the volume whose backups a volume's lastBackup follows:
// the volume a restore or DR volume came from, else the volume itself.
func sourceVolume(v api.Volume) string {
	if v.Spec.FromBackup != "" {
		if _, vol, _, err := api.ParseBackupURL(v.Spec.FromBackup); err == nil {
			return vol
		}
	}
	return v.Name
}

func targetName(t string) string {
	if t == "" {
		return api.DefaultBackupTarget
	}
	return t
}

func orNone(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func restoredAs(recorded string) string {
	if recorded == "" {
		return "empty"
	}
	return "from " + recorded
}

func sortedVolumes(vs []api.Volume) []api.Volume {
	out := slices.Clone(vs)
	slices.SortFunc(out, func(a, b api.Volume) int { return strings.Compare(a.Name, b.Name) })
	return out
}
