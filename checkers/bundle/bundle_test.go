package bundle

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
)

const sbName = "sb1"

// fixture is the seed-001 shape after a correct system backup: vol-a on
// the default target and vol-b on "extra" each got a new backup; vol-c
// had a user backup bk and got a newer one; vol-e is a DR volume of vol-c.
func fixture() Input {
	vol := func(name, target, last string) api.Volume {
		return api.Volume{Name: name, Spec: api.VolumeSpec{BackupTargetName: target}, Status: api.VolumeStatus{LastBackup: last}}
	}
	backup := func(name, volume, target, label string) api.Backup {
		b := api.Backup{Name: name, Spec: api.BackupSpec{Volume: volume, BackupTargetName: target}, Status: api.BackupStatus{State: api.BackupStateCompleted}}
		if label != "" {
			b.Spec.Labels = map[string]string{api.SystemBackupLabel: label}
		}
		return b
	}
	bv := func(volume, target, last string) api.BackupVolume {
		return api.BackupVolume{Name: api.BackupVolumeName(target, volume),
			Spec: api.BackupVolumeSpec{VolumeName: volume, BackupTargetName: target}, Status: api.BackupVolumeStatus{LastBackupName: last}}
	}
	dr := vol("vol-e", "default", "b-c2")
	dr.Spec.Standby, dr.Status.IsStandby = true, true
	dr.Spec.FromBackup = api.BackupURL("file:///t0", "vol-c", "bk")
	return Input{
		SystemBackup: api.SystemBackup{Name: sbName, Status: api.SystemBackupStatus{State: api.SystemBackupStateReady, Volumes: []api.SystemBackupVolume{
			{Volume: "vol-a", BackupTargetName: "default", Backup: "b-a"},
			{Volume: "vol-b", BackupTargetName: "extra", Backup: "b-b", MaintenanceNode: "node-1", Detached: true},
			{Volume: "vol-c", BackupTargetName: "default", Backup: "b-c2"},
			{Volume: "vol-e", BackupTargetName: "default", Skipped: "standby"},
		}}},
		Bundle: api.SystemBackupBundle{Name: sbName, Volumes: []api.Volume{
			vol("vol-a", "", "b-a"), vol("vol-b", "extra", "b-b"), vol("vol-c", "default", "b-c2"), dr,
		}},
		Backups: []api.Backup{
			backup("b-a", "vol-a", "default", sbName), backup("b-b", "vol-b", "extra", sbName),
			backup("bk", "vol-c", "default", ""), backup("b-c2", "vol-c", "default", sbName),
		},
		BackupVolumes: []api.BackupVolume{bv("vol-a", "default", "b-a"), bv("vol-b", "extra", "b-b"), bv("vol-c", "default", "b-c2")},
	}
}

// volume returns a pointer to the bundle's volume name.
func volume(in *Input, name string) *api.Volume {
	for i := range in.Bundle.Volumes {
		if in.Bundle.Volumes[i].Name == name {
			return &in.Bundle.Volumes[i]
		}
	}
	panic("no volume " + name)
}

func took(in *Input, name string) *api.SystemBackupVolume {
	for i := range in.SystemBackup.Status.Volumes {
		if in.SystemBackup.Status.Volumes[i].Volume == name {
			return &in.SystemBackup.Status.Volumes[i]
		}
	}
	panic("no record of " + name)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Input)
		want   checkers.Outcome
		// say are substrings the summary must hold (for a failure: the
		// volume, what was recorded, what was expected).
		say []string
	}{
		{name: "consistent", mutate: func(*Input) {}, want: checkers.Pass},
		{name: "up to date: the existing last backup", want: checkers.Pass, mutate: func(in *Input) {
			*took(in, "vol-c") = api.SystemBackupVolume{Volume: "vol-c", BackupTargetName: "default", Skipped: "up to date"}
			volume(in, "vol-c").Status.LastBackup = "bk"
			in.BackupVolumes[2].Status.LastBackupName = "bk"
		}},
		{name: "policy disabled, never backed up: empty is right", want: checkers.Pass, mutate: func(in *Input) {
			*took(in, "vol-a") = api.SystemBackupVolume{Volume: "vol-a", BackupTargetName: "default", Skipped: "policy disabled"}
			volume(in, "vol-a").Status.LastBackup = ""
			in.BackupVolumes = in.BackupVolumes[1:]
		}},
		{name: "defect: detached volume's lastBackup empty", want: checkers.Fail,
			say:    []string{"vol-b", `bundle records lastBackup ""`, "expected b-b", "create it empty"},
			mutate: func(in *Input) { volume(in, "vol-b").Status.LastBackup = "" }},
		{name: "defect: older backup recorded", want: checkers.Fail,
			say:    []string{"vol-c", "bundle records lastBackup bk", "expected b-c2", "from bk"},
			mutate: func(in *Input) { volume(in, "vol-c").Status.LastBackup = "bk" }},
		{name: "both at once name both volumes", want: checkers.Fail, say: []string{"2 of 4", "vol-b", "vol-c"},
			mutate: func(in *Input) {
				volume(in, "vol-b").Status.LastBackup = ""
				volume(in, "vol-c").Status.LastBackup = "bk"
			}},
		{name: "backup missing", want: checkers.Fail, say: []string{"vol-a", "backup b-a Completed", "missing"},
			mutate: func(in *Input) { in.Backups = in.Backups[1:] }},
		{name: "backup not completed", want: checkers.Fail, say: []string{"vol-b", "InProgress"},
			mutate: func(in *Input) { in.Backups[1].Status.State = api.BackupStateInProgress }},
		{name: "backup volume lists a newer backup", want: checkers.Fail, say: []string{"vol-a", "lastBackupName b-a9"},
			mutate: func(in *Input) { in.BackupVolumes[0].Status.LastBackupName = "b-a9" }},
		{name: "no backup volume on the volume's target", want: checkers.Fail, say: []string{"vol-b", "no such backup volume"},
			mutate: func(in *Input) { in.BackupVolumes[1].Spec.BackupTargetName = "default" }},
		{name: "backup of another target", want: checkers.Fail, say: []string{"vol-b", "on default"},
			mutate: func(in *Input) { in.Backups[1].Spec.BackupTargetName = "default" }},
		{name: "backup without the system backup's label", want: checkers.Fail, say: []string{"vol-a", api.SystemBackupLabel},
			mutate: func(in *Input) { in.Backups[0].Spec.Labels = nil }},
		{name: "up to date but an older backup recorded", want: checkers.Fail, say: []string{"vol-c", "bundle records lastBackup bk", "expected b-c2"},
			mutate: func(in *Input) {
				*took(in, "vol-c") = api.SystemBackupVolume{Volume: "vol-c", BackupTargetName: "default", Skipped: "up to date"}
				volume(in, "vol-c").Status.LastBackup = "bk"
			}},
		{name: "standby volume backed up", want: checkers.Fail, say: []string{"vol-e", "standby"},
			mutate: func(in *Input) { took(in, "vol-e").Backup = "b-e" }},
		{name: "volume the system backup does not mention", want: checkers.Fail, say: []string{"vol-a", "status.volumes"},
			mutate: func(in *Input) { in.SystemBackup.Status.Volumes = in.SystemBackup.Status.Volumes[1:] }},
		{name: "neither backup nor reason", want: checkers.Fail, say: []string{"vol-a", "neither"},
			mutate: func(in *Input) { took(in, "vol-a").Backup = "" }},
		{name: "volume backed up but not in the bundle", want: checkers.Fail, say: []string{"vol-b", "bundle does not hold it"},
			mutate: func(in *Input) { in.Bundle.Volumes = append(in.Bundle.Volumes[:1], in.Bundle.Volumes[2:]...) }},
		{name: "records differ on the target", want: checkers.Fail, say: []string{"vol-b", "backup target extra"},
			mutate: func(in *Input) { took(in, "vol-b").BackupTargetName = "default" }},
		{name: "not ready", want: checkers.Unknown, say: []string{"not Ready"},
			mutate: func(in *Input) { in.SystemBackup.Status.State = api.SystemBackupStateError }},
		{name: "bundle of another system backup", want: checkers.Unknown, say: []string{`"sb0"`},
			mutate: func(in *Input) { in.Bundle.Name = "sb0" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fixture()
			tc.mutate(&in)
			v := Check(in)
			if v.Checker != Name || v.Outcome != tc.want || v.At.IsZero() {
				t.Fatalf("Check: %s %s (at %v), want %s: %s\n%+v", v.Checker, v.Outcome, v.At, tc.want, v.Summary, v.Evidence)
			}
			for _, s := range tc.say {
				if !strings.Contains(v.Summary, s) {
					t.Errorf("summary %q does not say %q", v.Summary, s)
				}
			}
			if v.Outcome != checkers.Unknown && len(v.Evidence) != len(in.Bundle.Volumes)+missingFromBundle(in) {
				t.Errorf("%d lines of evidence for %d volumes: %+v", len(v.Evidence), len(in.Bundle.Volumes), v.Evidence)
			}
		})
	}
}

func missingFromBundle(in Input) int {
	n := 0
	for _, t := range in.SystemBackup.Status.Volumes {
		found := false
		for _, v := range in.Bundle.Volumes {
			found = found || v.Name == t.Volume
		}
		if !found {
			n++
		}
	}
	return n
}

// A DR volume's lastBackup follows its source's backup volume; the check
// must not look for a backup volume of the DR volume's own name.
func TestSourceVolume(t *testing.T) {
	v := api.Volume{Name: "r", Spec: api.VolumeSpec{FromBackup: api.BackupURL("file:///t", "src", "b1")}}
	if got := sourceVolume(v); got != "src" {
		t.Errorf("sourceVolume(restore volume) = %q, want src", got)
	}
	if got := sourceVolume(api.Volume{Name: "plain"}); got != "plain" {
		t.Errorf("sourceVolume(plain) = %q, want plain", got)
	}
}
