package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/faultline/faultline/scenarios"
)

// runParams are the backup flags run, soak, mutation and cluster up share.
type runParams struct {
	backupTarget string
	restoreRate  int64 // bytes per second, 0 = no limit
	// envErr is a bad $FAULTLINE_BACKUP_TARGET or
	// $FAULTLINE_RESTORE_RATE_LIMIT, reported by check.
	envErr error
}

// backupTargetFlag registers --backup-target (default
// $FAULTLINE_BACKUP_TARGET, else file) on fs.
func (p *runParams) backupTargetFlag(fs *flag.FlagSet) {
	p.backupTarget = scenarios.BackupTargetFile
	fs.Func("backup-target", "`KIND` of backup target the scenarios back up to: file (the manager's default file:// target) or s3 (a versitygw S3 server on loopback, run by the cluster; install it with "+
		"go install github.com/versity/versitygw/cmd/versitygw@v1.8.0); default file, or $FAULTLINE_BACKUP_TARGET", func(v string) error {
		t, err := scenarios.ParseBackupTarget(v)
		p.backupTarget = t
		return err
	})
	if v := os.Getenv("FAULTLINE_BACKUP_TARGET"); v != "" {
		if err := fs.Set("backup-target", v); err != nil {
			p.envErr = fmt.Errorf("FAULTLINE_BACKUP_TARGET: %w", err)
		}
	}
}

// restoreRateFlag registers --restore-rate-limit (default
// $FAULTLINE_RESTORE_RATE_LIMIT, else 16M) on fs.
func (p *runParams) restoreRateFlag(fs *flag.FlagSet) {
	p.restoreRate = scenarios.DefaultRestoreRateLimit
	fs.Func("restore-rate-limit", "`BYTES` per second each replica restore writes, e.g. 16M; 0 for no limit (default 16M, or $FAULTLINE_RESTORE_RATE_LIMIT); given to the manager (local cluster and kind) so that a restore lasts long enough to be faulted midway", func(v string) error {
		n, err := scenarios.ParseRestoreRateLimit(v)
		p.restoreRate = n
		return err
	})
	if v := os.Getenv("FAULTLINE_RESTORE_RATE_LIMIT"); v != "" {
		if err := fs.Set("restore-rate-limit", v); err != nil {
			p.envErr = fmt.Errorf("FAULTLINE_RESTORE_RATE_LIMIT: %w", err)
		}
	}
}

// check reports a bad environment default.
func (p *runParams) check() error { return p.envErr }

// apply copies the parameters into a scenarios configuration.
func (p *runParams) apply(c *scenarios.Config) {
	c.BackupTarget = p.backupTarget
	c.RestoreRateLimit = scenarios.RestoreRateLimitConfig(p.restoreRate)
}

// args are the flags that pass the parameters on to a child faultline run.
func (p *runParams) args() []string {
	return []string{"--backup-target", p.backupTarget, "--restore-rate-limit", strconv.FormatInt(p.restoreRate, 10)}
}
