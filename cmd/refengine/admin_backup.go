package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// labelFlag collects repeated --label k=v into a map.
type labelFlag map[string]string

func (l labelFlag) String() string {
	s := make([]string, 0, len(l))
	for _, k := range sortedKeys(l) {
		s = append(s, k+"="+l[k])
	}
	return strings.Join(s, ",")
}

func (l labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	switch {
	case !ok || k == "":
		return fmt.Errorf("%q: want KEY=VALUE", v)
	case l[k] != "" && l[k] != val:
		return fmt.Errorf("%q: label %s given twice", v, k)
	}
	l[k] = val
	return nil
}

// compressions are the block compressions a backup can ask for ("" lets
// the manager choose, lz4).
var compressions = []string{"", "none", "lz4", "gzip"}

func backupVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"create": {"VOLUME [--name N] [--snapshot S] [--label k=v ...] [--compression none|lz4|gzip] [--wait] (without --snapshot the manager snapshots the volume first; --wait is bounded by --timeout)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			name := fs.String("name", "", "backup name (default: the manager picks one)")
			snap := fs.String("snapshot", "", "existing snapshot of the volume to back up (default: a new snapshot named after the backup)")
			labels := labelFlag{}
			fs.Var(labels, "label", "KEY=VALUE label stored with the backup (repeatable)")
			comp := fs.String("compression", "", "block compression: none, lz4 or gzip (default lz4)")
			wait := fs.Bool("wait", false, "wait until the backup is Completed (exit 0) or Error (exit 1), printing progress to stderr when stdout and stderr are terminals and the output is a table")
			progress := fs.Output() // runAdmin points it at the command's stderr
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "VOLUME"); err != nil {
					return nil, err
				}
				if !slices.Contains(compressions, *comp) {
					return nil, usagef("--compression %q: want none, lz4 or gzip", *comp)
				}
				req := api.BackupCreateRequest{Name: *name, Volume: args[0], SnapshotName: *snap, Compression: *comp}
				if len(labels) > 0 {
					req.Labels = labels
				}
				b, err := c.CreateBackup(ctx, req)
				if err != nil || !*wait {
					return b, err
				}
				return waitBackupDone(ctx, c, b.Name, progress)
			}
		}},
		"list": {"[--volume V]", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			vol := fs.String("volume", "", "only backups of this volume (spec.volume, the name on the target)")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListBackups(ctx, *vol)
			}
		}},
		"get": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetBackup(ctx, args[0])
			}
		}},
		"delete": {"NAME [--wait] (removes the backup from its target too; --wait until it is gone, bounded by --timeout)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			wait := fs.Bool("wait", false, "wait until the backup is gone from the target and the manager")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				b, err := c.DeleteBackup(ctx, args[0])
				if err != nil || !*wait {
					return b, err
				}
				_, err = c.WaitBackup(ctx, args[0], func(b api.Backup) bool { return b.Name == "" })
				return nil, err
			}
		}},
	}
}

// waitBackupDone follows a backup until it is Completed or Error, writing
// a line to progress whenever its state or progress changes. A backup that
// ends in Error is an error; one that disappears (deleted meanwhile) too.
func waitBackupDone(ctx context.Context, c *client.Client, name string, progress io.Writer) (api.Backup, error) {
	last := ""
	b, err := c.WaitBackup(ctx, name, func(b api.Backup) bool {
		line := fmt.Sprintf("backup %s: %s %d%%", name, b.Status.State, b.Status.Progress)
		if b.Name == "" {
			line = fmt.Sprintf("backup %s: gone", name)
		}
		if line != last {
			fmt.Fprintln(progress, line)
			last = line
		}
		return b.Name == "" || b.Status.State == api.BackupStateCompleted || b.Status.State == api.BackupStateError
	})
	switch {
	case err != nil:
		return b, err
	case b.Name == "":
		return b, fmt.Errorf("backup %s was deleted before it completed", name)
	case b.Status.State == api.BackupStateError:
		return b, fmt.Errorf("backup %s failed: %s", name, b.Status.Error)
	}
	return b, nil
}

func backupVolumeVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"[--sync] (--sync: every backup volume re-reads its target first; the manager waits up to 30s)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			sync := fs.Bool("sync", false, "re-read every backup target before answering")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListBackupVolumes(ctx, *sync)
			}
		}},
		"get": {"NAME (<volume>-<8 hex>, see list)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetBackupVolume(ctx, args[0])
			}
		}},
		"sync": {"NAME (re-read the target now and show the result; fails if that takes the manager over 30s)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.SyncBackupVolume(ctx, args[0])
			}
		}},
	}
}

// volumeActivateVerb is `refengine volume activate`: a DR volume becomes a
// normal one.
func volumeActivateVerb() adminVerb {
	return adminVerb{"NAME [--frontend nbd] [--wait] (a standby volume only; --wait retries while it is behind its source, then waits until it detached, bounded by --timeout)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
		fe := fs.String("frontend", api.FrontendNBD, "frontend the activated volume gets")
		wait := fs.Bool("wait", false, `retry while the manager answers "`+api.ActivateNotReadyError+`", then wait until the volume is detached`)
		progress := fs.Output()
		return func(ctx context.Context, c *client.Client, args []string) (any, error) {
			if err := nArgs(args, "NAME"); err != nil {
				return nil, err
			}
			if !*wait {
				return c.ActivateVolume(ctx, args[0], *fe)
			}
			if _, err := activateWhenReady(ctx, c, args[0], *fe, progress); err != nil {
				return nil, err
			}
			v, err := c.WaitVolume(ctx, args[0], func(v api.Volume) bool {
				return v.Name == "" || (!v.Spec.Standby && v.Status.State == api.VolumeDetached)
			})
			if err == nil && v.Name == "" {
				err = fmt.Errorf("volume %s was deleted while it detached", args[0])
			}
			return v, err
		}
	}}
}

// activateRetry is how long activateWhenReady waits between attempts.
const activateRetry = 500 * time.Millisecond

// activateWhenReady activates a DR volume, retrying only while the manager
// refuses because the volume has not restored its source's newest backup;
// every other answer is final. Each new refusal message goes to progress.
func activateWhenReady(ctx context.Context, c *client.Client, name, frontend string, progress io.Writer) (api.Volume, error) {
	last := ""
	for {
		v, err := c.ActivateVolume(ctx, name, frontend)
		if !client.IsActivateNotReady(err) {
			return v, err
		}
		if msg := err.Error(); msg != last {
			fmt.Fprintf(progress, "volume %s: %s; retrying\n", name, msg)
			last = msg
		}
		t := time.NewTimer(activateRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, fmt.Errorf("activate volume %s: still not ready when giving up (%w): %v", name, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// restoreSize is the size of the backup a --from-backup URL names, for a
// volume create without --size: the manager's record of that backup, if it
// has one for the same target, volume and backup.
func restoreSize(ctx context.Context, c *client.Client, backupURL string) (int64, error) {
	target, volume, backup, err := api.ParseBackupURL(backupURL)
	if err != nil {
		return 0, usagef("--from-backup: %v", err)
	}
	bs, err := c.ListBackups(ctx, volume)
	if err != nil {
		return 0, fmt.Errorf("look up the size of backup %s: %w", backup, err)
	}
	for _, b := range bs {
		t, v, n, err := api.ParseBackupURL(b.Status.URL)
		if err == nil && t == target && v == volume && n == backup && b.Status.Size > 0 {
			return b.Status.Size, nil
		}
	}
	return 0, usagef("--size is required: the manager knows no backup %s of volume %s on %s (list backups with `refengine backup list --volume %s`, or sync with `refengine backup-volume list --sync`)", backup, volume, target, volume)
}
