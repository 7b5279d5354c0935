package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// adminVerb is one `refengine <resource> <verb>`: it declares its flags on
// fs, then runs with the positional arguments and returns what to print.
type adminVerb struct {
	usage string // arguments and flags, for help
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *client.Client, args []string) (any, error)
}

// registerAdmin adds the admin commands, one per resource kind, all built on
// engine/client: refengine volume|node|replica|snapshot|backing-image|engine-image|backup-target|backup|backup-volume|system-backup|system-restore <verb>.
func registerAdmin(cmds map[string]subcommand) {
	resources := map[string]struct {
		summary string
		verbs   map[string]adminVerb
	}{
		"volume":         {"manage volumes (create, restore from a backup, attach, detach, snapshot, upgrade, activate, ...)", volumeVerbs()},
		"node":           {"list and inspect nodes", nodeVerbs()},
		"replica":        {"list, inspect and delete replicas", replicaVerbs()},
		"snapshot":       {"create, list and inspect snapshots", snapshotVerbs()},
		"backing-image":  {"manage backing images (from a file or an upload)", backingImageVerbs()},
		"engine-image":   {"manage engine images", engineImageVerbs()},
		"backup-target":  {"manage backup targets (where backups go) and check they answer", backupTargetVerbs()},
		"backup":         {"create, list, inspect and delete backups of volumes", backupVerbs()},
		"backup-volume":  {"list, inspect and sync volumes as backup targets hold them", backupVolumeVerbs()},
		"system-backup":  {"back up the whole system (every volume, then the configuration as a bundle); list, inspect, read and delete system backups", systemBackupVerbs()},
		"system-restore": {"re-create backup targets, backing images and volumes from a system backup", systemRestoreVerbs()},
	}
	for name, r := range resources {
		cmds[name] = subcommand{summary: r.summary, run: func(args []string) int {
			return runAdmin(name, r.verbs, args, os.Stdout, os.Stderr)
		}}
	}
}

func runAdmin(resource string, verbs map[string]adminVerb, args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintf(stderr, "usage: refengine %s <verb> [args] [--manager URL] [--token-file FILE] [--output json|table]\n\nverbs:\n", resource)
		for _, name := range sortedKeys(verbs) {
			fmt.Fprintf(stderr, "  %-8s %s\n", name, verbs[name].usage)
		}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "refengine %s: unknown verb %q\n", resource, args[0])
		usage()
		return 2
	}
	fs := flag.NewFlagSet("refengine "+resource+" "+args[0], flag.ContinueOnError)
	progress := &progressGate{w: stderr} // where the verbs print progress
	fs.SetOutput(progress)
	defURL := os.Getenv("REFENGINE_MANAGER")
	if defURL == "" {
		defURL = "http://127.0.0.1:9500"
	}
	managerURL := fs.String("manager", defURL, "manager URL (default $REFENGINE_MANAGER or http://127.0.0.1:9500)")
	tokenFile := fs.String("token-file", "", "file holding the bearer token for the manager's REST API (default: $REFENGINE_TOKEN)")
	output := fs.String("output", "table", "output format: json or table")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	run := v.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: refengine %s %s %s\n", resource, args[0], v.usage)
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if *output != "json" && *output != "table" {
		fmt.Fprintf(stderr, "refengine %s: --output %q: want json or table\n", resource, *output)
		return 2
	}
	progress.settle(stdout, *output == "json")
	c, err := client.New(*managerURL, nil)
	if err != nil {
		fmt.Fprintf(stderr, "refengine %s: %v\n", resource, err)
		return 2
	}
	token, err := adminToken(*tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "refengine %s: %v\n", resource, err)
		return 2
	}
	c.SetToken(token)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	out, err := run(ctx, c, pos)
	var usageErr usageError
	if errors.As(err, &usageErr) {
		fmt.Fprintf(stderr, "refengine %s %s: %v\n", resource, args[0], err)
		progress.open()
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "refengine %s %s: %v\n", resource, args[0], err)
		if api.IsCode(err, http.StatusUnauthorized) {
			fmt.Fprintln(stderr, tokenHint(token != ""))
		}
		return 1
	}
	if out == nil {
		return 0
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	printTable(stdout, out)
	return 0
}

// usageError is a mistake in the command line (exit 2, not 1).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// parseInterleaved lets flags follow positional arguments
// (`volume get vol1 --output json`), which package flag alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// nArgs checks the number of positional arguments.
func nArgs(args []string, names ...string) error {
	if len(args) != len(names) {
		return usagef("want %d argument(s) (%s), got %d", len(names), strings.Join(names, " "), len(args))
	}
	return nil
}

// parseBytes reads a byte count with an optional binary suffix (K, M, G, T,
// optionally followed by "i" or "iB").
func parseBytes(s string) (int64, error) {
	u, mult := splitSizeSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "B"), "I"))
	v, err := strconv.ParseInt(u, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a byte count like 1073741824, 512M or 1G", s)
	}
	return v * mult, nil
}

func volumeVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListVolumes(ctx)
			}
		}},
		"get": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetVolume(ctx, args[0])
			}
		}},
		"create": {"NAME --size SIZE [--replicas N] [--backing-image B] [--engine-image E] [--frontend nbd] [--backup-target T] [--from-backup URL [--standby]] (with --from-backup, --size defaults to the backup's size when the manager lists that backup; --standby makes a DR volume, which has no frontend)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			size := fs.String("size", "", "volume size, e.g. 1G (a multiple of 1 MiB)")
			replicas := fs.Int("replicas", api.DefaultReplicas, "number of replicas (1..16)")
			bi := fs.String("backing-image", "", "backing image to clone the volume from")
			ei := fs.String("engine-image", "", "engine image to run the engine from")
			fe := fs.String("frontend", "", "frontend to export the volume with (default nbd; a --standby volume has none)")
			target := fs.String("backup-target", "", "backup target the volume's backups go to (default: default, or with --from-backup the target whose URL it names)")
			from := fs.String("from-backup", "", "backup URL to restore the volume from (a backup's status.url)")
			standby := fs.Bool("standby", false, "with --from-backup: a DR volume that keeps restoring the source's newer backups until it is activated (volume activate)")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				req := api.VolumeCreateRequest{Name: args[0], NumberOfReplicas: *replicas, BackingImage: *bi, EngineImage: *ei, Frontend: *fe, FromBackup: *from, Standby: *standby, BackupTargetName: *target}
				switch {
				case *standby && *from == "":
					return nil, usagef("--standby needs --from-backup: a DR volume restores from a backup")
				case *standby && *fe != "":
					return nil, usagef("--standby with --frontend %q: a standby volume has no frontend until it is activated (give the frontend to `volume activate`)", *fe)
				}
				if *from != "" {
					if _, _, _, err := api.ParseBackupURL(*from); err != nil {
						return nil, usagef("--from-backup: %v", err)
					}
				}
				if *size == "" && *from != "" {
					n, err := restoreSize(ctx, c, *from)
					if err != nil {
						return nil, err
					}
					req.Size = n
				} else {
					n, err := parseBytes(*size)
					if err != nil {
						return nil, usagef("--size: %v", err)
					}
					req.Size = n
				}
				return c.CreateVolume(ctx, req)
			}
		}},
		"delete": {"NAME [--force]", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			force := fs.Bool("force", false, "delete the volume even while it is attached, cutting its client off at once")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				if *force {
					return c.ForceDeleteVolume(ctx, args[0])
				}
				return c.DeleteVolume(ctx, args[0])
			}
		}},
		"attach": {"NAME --node NODE", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			node := fs.String("node", "", "node to attach the volume to")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.AttachVolume(ctx, args[0], *node)
			}
		}},
		"detach": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.DetachVolume(ctx, args[0])
			}
		}},
		"snapshot": {"NAME SNAPSHOT", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME", "SNAPSHOT"); err != nil {
					return nil, err
				}
				return c.SnapshotVolume(ctx, args[0], args[1])
			}
		}},
		"upgrade": {"NAME --engine-image E", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			ei := fs.String("engine-image", "", "engine image to move the volume to")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.UpgradeVolume(ctx, args[0], *ei)
			}
		}},
		"activate": volumeActivateVerb(),
		"wait": {"NAME [--state S] [--robustness R] [--gone] (bounded by --timeout; on a terminal, prints the volume's and its replicas' changes to stderr)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			state := fs.String("state", "", "wait for this state")
			rob := fs.String("robustness", "", "wait for this robustness")
			gone := fs.Bool("gone", false, "wait until the volume no longer exists")
			progress := fs.Output() // on a terminal, runAdmin lets it through to stderr
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				if *state == "" && *rob == "" && !*gone {
					return nil, usagef("give --state, --robustness or --gone")
				}
				p := newProgressLines(progress)
				v, err := c.WaitVolume(ctx, args[0], func(v api.Volume) bool {
					if progressShown(progress) {
						p.show(volumeProgress(ctx, c, args[0], v)...)
					}
					if *gone {
						return v.Name == ""
					}
					return v.Name != "" && (*state == "" || v.Status.State == *state) && (*rob == "" || v.Status.Robustness == *rob)
				})
				if err != nil || *gone {
					return nil, err
				}
				return v, nil
			}
		}},
	}
}

func nodeVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListNodes(ctx)
			}
		}},
		"get": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetNode(ctx, args[0])
			}
		}},
		"delete": {"NAME (only a down node holding nothing)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return nil, c.DeleteNode(ctx, args[0])
			}
		}},
	}
}

func replicaVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"[--volume V]", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			vol := fs.String("volume", "", "only this volume's replicas")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListReplicas(ctx, *vol)
			}
		}},
		"get": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetReplica(ctx, args[0])
			}
		}},
		"delete": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.DeleteReplica(ctx, args[0])
			}
		}},
	}
}

func snapshotVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"[--volume V]", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			vol := fs.String("volume", "", "only this volume's snapshots")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListSnapshots(ctx, *vol)
			}
		}},
		"get": {"NAME (<volume>-s-<snapshot>)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetSnapshot(ctx, args[0])
			}
		}},
		"create": {"VOLUME SNAPSHOT", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "VOLUME", "SNAPSHOT"); err != nil {
					return nil, err
				}
				return c.SnapshotVolume(ctx, args[0], args[1])
			}
		}},
	}
}

func backingImageVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListBackingImages(ctx)
			}
		}},
		"get": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetBackingImage(ctx, args[0])
			}
		}},
		"create": {"NAME --source PATH [--sha512 HEX] (PATH on the manager's host)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			src := fs.String("source", "", "absolute path of the image file on the manager's host")
			sum := fs.String("sha512", "", "expected SHA-512 (hex); creation fails on mismatch")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: args[0], SourcePath: *src, SHA512: *sum})
			}
		}},
		"upload": {"NAME --file PATH [--sha512 HEX] (streams a local file; on a terminal, prints how much went out to stderr)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			file := fs.String("file", "", "local image file to upload")
			sum := fs.String("sha512", "", "expected SHA-512 (hex); the manager verifies it")
			progress := fs.Output() // on a terminal, runAdmin lets it through to stderr
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				f, err := os.Open(*file)
				if err != nil {
					return nil, usagef("--file: %v", err)
				}
				defer f.Close()
				var size int64
				if fi, err := f.Stat(); err == nil {
					size = fi.Size()
				}
				return c.UploadBackingImage(ctx, args[0], newProgressReader(f, progress, "upload "+args[0], size), *sum)
			}
		}},
		"delete": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return nil, c.DeleteBackingImage(ctx, args[0])
			}
		}},
	}
}

func engineImageVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListEngineImages(ctx)
			}
		}},
		"get": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetEngineImage(ctx, args[0])
			}
		}},
		"create": {"NAME --version V --binary PATH", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			version := fs.String("version", "", "version string of the image")
			bin := fs.String("binary", "", "absolute path of the refengine binary")
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: args[0], Version: *version, BinaryPath: *bin})
			}
		}},
		"delete": {"NAME", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return nil, c.DeleteEngineImage(ctx, args[0])
			}
		}},
	}
}

// adminToken is the bearer token the admin commands send: the contents of
// --token-file, else $REFENGINE_TOKEN, else none.
func adminToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv("REFENGINE_TOKEN")), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--token-file %s is empty", file)
	}
	return t, nil
}

// tokenHint says, after a 401, how to give the admin commands a token.
func tokenHint(sent bool) string {
	what := "The manager requires a bearer token and none was given."
	if sent {
		what = "The manager refused the bearer token given."
	}
	return what + " Set REFENGINE_TOKEN to the cluster's admin token (for a faultline cluster: eval $(faultline cluster env --dir DIR), which also sets REFENGINE_MANAGER) or pass --token-file FILE (e.g. the manager's --api-token-file)."
}
