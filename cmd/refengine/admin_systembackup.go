package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// volumeBackupPolicies are the policies `system-backup create --policy`
// accepts; without the flag none is sent and the manager uses
// if-not-present.
var volumeBackupPolicies = []string{api.VolumeBackupPolicyIfNotPresent, api.VolumeBackupPolicyAlways, api.VolumeBackupPolicyDisabled}

const policyHelp = "volume backup policy: if-not-present (default: back up a volume unless its last backup is up to date), always (back up every volume) or disabled (take no backups; the bundle records each volume's last backup as it stands)"

func systemBackupVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"create": {"NAME [--policy if-not-present|always|disabled] [--wait] (backs up every volume on its own target, then writes the bundle to the default target; --wait is bounded by --timeout, which a system backup of many volumes needs raised)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			policy := fs.String("policy", "", policyHelp)
			wait := fs.Bool("wait", false, "wait until the system backup is Ready (exit 0) or Error (exit 1), printing each state and each volume's part to stderr when stdout and stderr are terminals and the output is a table")
			progress := fs.Output() // runAdmin points it at the command's stderr
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				if *policy != "" && !slices.Contains(volumeBackupPolicies, *policy) {
					return nil, usagef("--policy %q: want %s", *policy, strings.Join(volumeBackupPolicies, ", "))
				}
				b, err := c.CreateSystemBackup(ctx, api.SystemBackupCreateRequest{Name: args[0], VolumeBackupPolicy: *policy})
				if err != nil || !*wait {
					return b, err
				}
				return waitSystemBackupReady(ctx, c, b.Name, progress)
			}
		}},
		"list": {"", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListSystemBackups(ctx)
			}
		}},
		"get": {"NAME (the table adds what was done for each volume)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetSystemBackup(ctx, args[0])
			}
		}},
		"bundle": {"NAME (prints the bundle, read back from the default target, as JSON whatever --output says; the system backup must be Ready)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.SystemBackupBundle(ctx, args[0])
			}
		}},
		"delete": {"NAME [--wait] (removes the bundle from the default target, then the record; the volume backups stay; --wait until it is gone, bounded by --timeout)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			wait := fs.Bool("wait", false, "wait until the bundle and the record are gone, printing any error the deletion meets to stderr when stdout and stderr are terminals and the output is a table")
			progress := fs.Output()
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				b, err := c.DeleteSystemBackup(ctx, args[0])
				if err != nil || !*wait {
					return b, err
				}
				return nil, waitSystemBackupGone(ctx, c, args[0], b.Status.Error, progress)
			}
		}},
	}
}

// waitSystemBackupReady follows a system backup until it is Ready or
// Error, writing each new state and each change in a volume's part to
// progress. One that ends in Error is an error; one that disappears
// (deleted meanwhile) too.
func waitSystemBackupReady(ctx context.Context, c *client.Client, name string, progress io.Writer) (api.SystemBackup, error) {
	p := newProgressLines(progress)
	b, err := c.WaitSystemBackup(ctx, name, func(b api.SystemBackup) bool {
		p.show(systemBackupProgress(name, b)...)
		return b.Name == "" || b.Status.State == api.SystemBackupStateReady || b.Status.State == api.SystemBackupStateError
	})
	switch {
	case err != nil:
		return b, err
	case b.Name == "":
		return b, fmt.Errorf("system backup %s was deleted before it was Ready", name)
	case b.Status.State == api.SystemBackupStateError:
		return b, fmt.Errorf("system backup %s failed: %s", name, b.Status.Error)
	}
	return b, nil
}

// waitSystemBackupGone waits until a deleted system backup's record is
// gone, writing each error the controller records meanwhile (a default
// target that does not answer, say) to progress; before is the error the
// system backup had when it was deleted (that of a failed one), which is
// not the deletion's.
func waitSystemBackupGone(ctx context.Context, c *client.Client, name, before string, progress io.Writer) error {
	p := newProgressLines(progress)
	_, err := c.WaitSystemBackup(ctx, name, func(b api.SystemBackup) bool {
		if b.Status.Error != "" && b.Status.Error != before {
			p.show(fmt.Sprintf("system backup %s: deleting: %s", name, b.Status.Error))
		}
		return b.Name == ""
	})
	return err
}

// systemBackupProgress describes a system backup as it stands: its state,
// then one line per volume; a final state (Ready, Error) comes last, after
// the volumes it followed.
func systemBackupProgress(name string, b api.SystemBackup) []string {
	prefix := "system backup " + name + ": "
	if b.Name == "" {
		return []string{prefix + "gone"}
	}
	var lines []string
	for _, v := range b.Status.Volumes {
		lines = append(lines, prefix+"volume "+v.Volume+": "+systemBackupVolumeSummary(v))
	}
	state := b.Status.State
	switch state {
	case api.SystemBackupStateReady, api.SystemBackupStateError:
		return append(lines, prefix+state)
	case api.SystemBackupStateNone:
		state = "not started"
	}
	lines = append([]string{prefix + state}, lines...)
	if b.Status.Error != "" { // a failure the controller retries
		lines = append(lines, prefix+state+": retrying: "+b.Status.Error)
	}
	return lines
}

// systemBackupVolumeSummary says what a system backup did for one volume,
// in words.
func systemBackupVolumeSummary(v api.SystemBackupVolume) string {
	var s string
	switch {
	case v.Skipped != "":
		s = "skipped (" + v.Skipped + ")"
	case v.Backup != "":
		s = "backup " + v.Backup + " on target " + v.BackupTargetName
	default:
		s = "waiting for its backup on target " + v.BackupTargetName
	}
	if v.MaintenanceNode != "" {
		s += ", attached to " + v.MaintenanceNode + " for it"
		if v.Detached {
			s += ", detached again"
		}
	}
	return s
}
