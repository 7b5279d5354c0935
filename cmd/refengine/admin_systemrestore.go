package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

func systemRestoreVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"create": {"NAME --from SYSTEMBACKUP [--target-secret TARGET=SECRETKEY ...] [--target-secret-file TARGET=FILE ...] [--wait] (re-creates backup targets, then backing images, then volumes from a Ready system backup; a target whose credential has a secret needs one of the secret flags when it must be re-created; --wait is bounded by --timeout)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			from := fs.String("from", "", "the system backup to restore (it must be Ready)")
			var literal, files rawValues
			fs.Var(&literal, "target-secret", "TARGET=SECRETKEY: the secret key of a backup target the restore re-creates (repeatable; ps and shell history show it, prefer --target-secret-file)")
			fs.Var(&files, "target-secret-file", "TARGET=FILE: a file holding the secret key of a backup target the restore re-creates (repeatable)")
			wait := fs.Bool("wait", false, "wait until the system restore is Completed (exit 0) or Error (exit 1), printing each state and each object restored to stderr when stdout and stderr are terminals and the output is a table")
			progress := fs.Output() // runAdmin points it at the command's stderr
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				if *from == "" {
					return nil, usagef("--from is required: the system backup to restore (see `refengine system-backup list`)")
				}
				secrets, err := parseTargetSecrets(literal, files)
				if err != nil {
					return nil, err
				}
				r, err := c.CreateSystemRestore(ctx, api.SystemRestoreCreateRequest{Name: args[0], SystemBackup: *from, TargetSecrets: secrets})
				if err != nil || !*wait {
					return r, err
				}
				return waitSystemRestoreDone(ctx, c, r.Name, progress)
			}
		}},
		"list": {"", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListSystemRestores(ctx)
			}
		}},
		"get": {"NAME (the table adds what was done with each object of the bundle)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetSystemRestore(ctx, args[0])
			}
		}},
		"delete": {"NAME (forgets a finished system restore; what it restored stays; refused while it runs)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return nil, c.DeleteSystemRestore(ctx, args[0])
			}
		}},
	}
}

// waitSystemRestoreDone follows a system restore until it is Completed or
// Error, writing each new state and each object as the restore handles it
// to progress. One that ends in Error is an error; one that disappears
// (deleted meanwhile) too.
func waitSystemRestoreDone(ctx context.Context, c *client.Client, name string, progress io.Writer) (api.SystemRestore, error) {
	p := newProgressLines(progress)
	r, err := c.WaitSystemRestore(ctx, name, func(r api.SystemRestore) bool {
		p.show(systemRestoreProgress(name, r)...)
		return r.Name == "" || r.Status.State == api.SystemRestoreStateCompleted || r.Status.State == api.SystemRestoreStateError
	})
	switch {
	case err != nil:
		return r, err
	case r.Name == "":
		return r, fmt.Errorf("system restore %s was deleted before it completed", name)
	case r.Status.State == api.SystemRestoreStateError:
		return r, fmt.Errorf("system restore %s failed: %s", name, r.Status.Error)
	}
	return r, nil
}

// systemRestoreProgress describes a system restore as it stands: its
// state, then one line per object handled so far; a final state
// (Completed, Error) comes last, after the objects it followed.
func systemRestoreProgress(name string, r api.SystemRestore) []string {
	prefix := "system restore " + name + ": "
	if r.Name == "" {
		return []string{prefix + "gone"}
	}
	var lines []string
	for _, o := range r.Status.Objects {
		l := fmt.Sprintf("%s%s %s %s", prefix, o.Kind, o.Name, o.Action)
		if o.Reason != "" {
			l += " (" + o.Reason + ")"
		}
		lines = append(lines, l)
	}
	state := r.Status.State
	switch state {
	case api.SystemRestoreStateCompleted, api.SystemRestoreStateError:
		return append(lines, prefix+state)
	case "":
		state = "not started"
	}
	lines = append([]string{prefix + state}, lines...)
	if r.Status.Error != "" { // a failure the controller retries
		lines = append(lines, prefix+state+": retrying: "+r.Status.Error)
	}
	return lines
}
