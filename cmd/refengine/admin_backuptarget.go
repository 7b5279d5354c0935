package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// secretKeyEnv names the environment variable a backup target's secret key
// may come from instead of --secret-key-file. Neither way puts the secret
// on the command line, where ps and shell history would show it.
const secretKeyEnv = "REFENGINE_BACKUP_SECRET_KEY"

const backupTargetCredHelp = "[--access-key K] [--secret-key-file F] [--endpoint URL] [--region R] [--poll-interval D]"

// credFlags are the credential flags create and update share.
type credFlags struct {
	fs                                      *flag.FlagSet
	accessKey, secretFile, endpoint, region *string
}

func addCredFlags(fs *flag.FlagSet) *credFlags {
	return &credFlags{
		fs:         fs,
		accessKey:  fs.String("access-key", "", "S3 access key"),
		secretFile: fs.String("secret-key-file", "", "file holding the S3 secret key (default $"+secretKeyEnv+", read when any credential flag is given); there is no flag for the key itself: flags show up in ps"),
		endpoint:   fs.String("endpoint", "", "S3 endpoint, http(s)://host[:port] (default AWS)"),
		region:     fs.String("region", "", "S3 region; must match the region in --url"),
	}
}

// credential builds the credential to send, or nil when no credential flag
// was given: the environment alone never sends one, so an exported secret
// does not leak into an update of some file target.
func (c *credFlags) credential() (*api.BackupTargetCredential, error) {
	set := false
	c.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "access-key", "secret-key-file", "endpoint", "region":
			set = true
		}
	})
	if !set {
		return nil, nil
	}
	secret := os.Getenv(secretKeyEnv)
	if *c.secretFile != "" {
		b, err := os.ReadFile(*c.secretFile)
		if err != nil {
			return nil, usagef("--secret-key-file: %v", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
		if secret == "" {
			return nil, usagef("--secret-key-file %s is empty", *c.secretFile)
		}
	}
	return &api.BackupTargetCredential{AccessKey: *c.accessKey, SecretKey: secret, Endpoint: *c.endpoint, Region: *c.region}, nil
}

func backupTargetVerbs() map[string]adminVerb {
	return map[string]adminVerb{
		"list": {"", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args); err != nil {
					return nil, err
				}
				return c.ListBackupTargets(ctx)
			}
		}},
		"get": {"NAME (the secret key is never shown, only whether one is set)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.GetBackupTarget(ctx, args[0])
			}
		}},
		"create": {"NAME --url URL " + backupTargetCredHelp, func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			u := fs.String("url", "", "file:///abs/dir or s3://bucket@region/prefix")
			poll := fs.Duration("poll-interval", 0, "how often the manager checks the target (default 5m, at least 10s)")
			cf := addCredFlags(fs)
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				cred, err := cf.credential()
				if err != nil {
					return nil, err
				}
				return c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: args[0], URL: *u, PollInterval: api.Duration(*poll), Credential: cred})
			}
		}},
		"update": {"NAME [--url URL] " + backupTargetCredHelp + " [--clear-credential] (a credential without a secret keeps the stored secret)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			u := fs.String("url", "", "new URL")
			poll := fs.Duration("poll-interval", 0, "new poll interval (at least 10s)")
			clearCred := fs.Bool("clear-credential", false, "remove the credential (e.g. when moving to a file:// URL)")
			cf := addCredFlags(fs)
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				req := api.BackupTargetUpdateRequest{URL: *u}
				fs.Visit(func(f *flag.Flag) {
					if f.Name == "poll-interval" {
						d := api.Duration(*poll)
						req.PollInterval = &d
					}
				})
				cred, err := cf.credential()
				if err != nil {
					return nil, err
				}
				switch {
				case *clearCred && cred != nil:
					return nil, usagef("--clear-credential with credential flags")
				case *clearCred:
					cred = &api.BackupTargetCredential{}
				}
				req.Credential = cred
				return c.UpdateBackupTarget(ctx, args[0], req)
			}
		}},
		"delete": {"NAME (not \"default\", not one a volume uses; data on the target is left alone)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return nil, c.DeleteBackupTarget(ctx, args[0])
			}
		}},
		"sync": {"NAME (check availability now and show the result)", func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) (any, error) {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				if err := nArgs(args, "NAME"); err != nil {
					return nil, err
				}
				return c.SyncBackupTarget(ctx, args[0])
			}
		}},
	}
}

// credentialSummary describes a credential for a table cell, without the
// secret.
func credentialSummary(c *api.BackupTargetCredential) string {
	if c == nil {
		return ""
	}
	s := fmt.Sprintf("key %s", c.AccessKey)
	if c.HasSecret {
		s += " +secret"
	}
	if c.Endpoint != "" {
		s += " @" + c.Endpoint
	}
	return s
}
