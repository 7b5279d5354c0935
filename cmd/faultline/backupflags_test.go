package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/faultline/faultline/scenarios"
)

func TestBackupFlagErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  [2]string
		args []string
		want string
	}{
		{"bad backup target", [2]string{}, []string{"run", "--backup-target", "nfs"}, `backup target "nfs": want file or s3`},
		{"bad rate", [2]string{}, []string{"run", "--restore-rate-limit", "fast"}, "restore rate limit"},
		{"bad env target", [2]string{"FAULTLINE_BACKUP_TARGET", "ftp"}, []string{"run"}, "FAULTLINE_BACKUP_TARGET"},
		{"bad env rate", [2]string{"FAULTLINE_RESTORE_RATE_LIMIT", "-3"}, []string{"soak"}, "FAULTLINE_RESTORE_RATE_LIMIT"},
		{"mutation bad target", [2]string{}, []string{"mutation", "--backup-target", "x"}, "want file or s3"},
		{"mutation bad env", [2]string{"FAULTLINE_BACKUP_TARGET", "x"}, []string{"mutation"}, "FAULTLINE_BACKUP_TARGET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			code, _, stderr := cli(t, tc.args...)
			if code != exitNotRun || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 2 with %q in stderr:\n%s", code, tc.want, stderr)
			}
		})
	}
}

func TestBackupFlagsReachConfigAndReproduce(t *testing.T) {
	for _, tc := range []struct {
		env        [2]string
		args       []string
		target     string
		rate       int64 // Config.RestoreRateLimit
		reproduce  string
		childFlags string
	}{
		{[2]string{}, nil, "file", scenarios.DefaultRestoreRateLimit, "", "--backup-target file --restore-rate-limit 16777216"},
		{[2]string{}, []string{"--backup-target", "s3"}, "s3", scenarios.DefaultRestoreRateLimit, " --backup-target s3", "--backup-target s3 --restore-rate-limit 16777216"},
		{[2]string{"FAULTLINE_BACKUP_TARGET", "s3"}, nil, "s3", scenarios.DefaultRestoreRateLimit, " --backup-target s3", "--backup-target s3 --restore-rate-limit 16777216"},
		{[2]string{"FAULTLINE_BACKUP_TARGET", "s3"}, []string{"--backup-target", "file"}, "file", scenarios.DefaultRestoreRateLimit, "", "--backup-target file --restore-rate-limit 16777216"},
		{[2]string{}, []string{"--restore-rate-limit", "0"}, "file", scenarios.NoRestoreRateLimit, " --restore-rate-limit 0", "--backup-target file --restore-rate-limit 0"},
		{[2]string{"FAULTLINE_RESTORE_RATE_LIMIT", "4M"}, nil, "file", 4 << 20, " --restore-rate-limit 4194304", "--backup-target file --restore-rate-limit 4194304"},
	} {
		t.Run(strings.Join(append(tc.args, tc.env[:]...), " "), func(t *testing.T) {
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			var p runParams
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			p.backupTargetFlag(fs)
			p.restoreRateFlag(fs)
			if err := fs.Parse(tc.args); err != nil || p.check() != nil {
				t.Fatalf("parse: %v, %v", err, p.check())
			}
			var cfg scenarios.Config
			p.apply(&cfg)
			if cfg.BackupTarget != tc.target || cfg.RestoreRateLimit != tc.rate {
				t.Errorf("config: backup target %q rate %d, want %q %d", cfg.BackupTarget, cfg.RestoreRateLimit, tc.target, tc.rate)
			}
			if got := reproduceRun(runFlags{nodes: 3, params: p}, 5); got != "faultline run --seed 5"+tc.reproduce {
				t.Errorf("reproduce = %q, want suffix %q", got, tc.reproduce)
			}
			if got := strings.Join(p.args(), " "); got != tc.childFlags {
				t.Errorf("child flags = %q, want %q", got, tc.childFlags)
			}
		})
	}
}

func TestRunHelpShowsBackupTarget(t *testing.T) {
	for _, cmd := range []string{"run", "soak", "mutation"} {
		code, _, stderr := cli(t, cmd, "--help")
		if code != exitPass || !strings.Contains(stderr, "-backup-target") || !strings.Contains(stderr, "-restore-rate-limit") {
			t.Errorf("%s --help (exit %d) lacks the backup flags:\n%s", cmd, code, stderr)
		}
	}
}
