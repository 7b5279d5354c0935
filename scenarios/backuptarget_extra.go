package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/cluster/kind"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/timeline"
)

// extraTargetsDir is where, under the default file target's directory,
// the second file targets of the specs live: a place the default target's
// own keys (volumes/, system-backups/) never reach, and one every node
// sees wherever it sees the default target (on kind, the shared host
// directory).
const extraTargetsDir = "faultline-targets"

// ExtraBackupTarget creates a second backup target, name, of the run's
// kind (--backup-target): for file, a directory of its own under the
// default target's directory; for s3, a prefix of its own next to the
// spec's on the run's S3 endpoint, with the same credentials. It returns the target's secret key
// ("" for file), which a system restore needs to re-create the target
// (bundles never hold secrets). The target is deleted in the spec's
// cleanup, registered before it is created (as BackupTarget does); its
// data stays where it is.
func (s *Spec) ExtraBackupTarget(ctx context.Context, name string) (secret string) {
	c := s.Client()
	DeferCleanup(func(ctx SpecContext) {
		Expect(deleteBackupTarget(ctx, c, name, backupTargetDeleteDeadline)).To(Succeed())
	}, NodeTimeout(backupTargetDeleteDeadline+30*time.Second))
	if s.Env.cfg.backupTarget() == BackupTargetS3 {
		ep, err := s.Env.s3Endpoint(ctx, "s3", "")
		if skip := (*skipError)(nil); errors.As(err, &skip) {
			Skip(skip.Error())
		}
		Expect(err).NotTo(HaveOccurred(), "S3 endpoint for backup target %s", name)
		// A sibling of the spec's own prefix, not inside it: neither
		// target's keys lie under the other's.
		prefix := strings.TrimSuffix(s.backupPrefix(), "/") + "-" + name + "/"
		bt, err := ensureS3Target(ctx, c, name, ep, prefix, backupTargetReadyDeadline)
		Expect(err).NotTo(HaveOccurred())
		s.noteTarget(bt)
		return ep.SecretKey
	}
	url, err := s.extraFileTarget(ctx, name)
	if skip := (*skipError)(nil); errors.As(err, &skip) {
		Skip(skip.Error())
	}
	Expect(err).NotTo(HaveOccurred())
	_, err = c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: name, URL: url})
	Expect(err).NotTo(HaveOccurred(), "create backup target %s (%s)", name, url)
	bt, err := waitBackupTargetAvailable(ctx, c, name, backupTargetReadyDeadline)
	Expect(err).NotTo(HaveOccurred())
	s.noteTarget(bt)
	return ""
}

// extraFileTarget makes the directory of file target name and returns its
// URL: a subdirectory of the default file target's directory, created
// through the host path the cluster maps it from.
func (s *Spec) extraFileTarget(ctx context.Context, name string) (string, error) {
	def, err := s.Client().GetBackupTarget(ctx, api.DefaultBackupTarget)
	if err != nil {
		return "", fmt.Errorf("read the default backup target: %w", err)
	}
	loc, err := backupstore.ParseURL(def.Spec.URL)
	if err != nil || loc.Scheme != "file" {
		return "", &skipError{fmt.Sprintf("a second file backup target needs a file:// default target, which is %q (%v)", def.Spec.URL, err)}
	}
	host, err := s.hostPathOf(loc.Dir)
	if err != nil {
		return "", err
	}
	sub := filepath.Join(extraTargetsDir, name)
	if err := os.MkdirAll(filepath.Join(host, sub), 0o755); err != nil {
		return "", fmt.Errorf("make the directory of backup target %s: %w", name, err)
	}
	return backupstore.Location{Scheme: "file", Dir: filepath.Join(loc.Dir, sub)}.String(), nil
}

// hostPathOf maps a directory as the cluster's processes see it to this
// host: the same path on a local cluster, the mounted host directory on
// kind.
func (s *Spec) hostPathOf(dir string) (string, error) {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	if k, ok := s.Env.Cluster.(*kind.Driver); ok && dir == kindBackupstore {
		return filepath.Join(k.Dir(), "backupstore"), nil
	}
	return "", &skipError{fmt.Sprintf("the default backup target's directory %s is not reachable from this host: cannot make a second file target", dir)}
}

// kindBackupstore is where kind nodes mount the shared backup directory
// (deploy/, kind-config/).
const kindBackupstore = "/var/lib/refengine-backupstore"

// noteTarget puts a target the spec made on the timeline and the progress.
func (s *Spec) noteTarget(bt api.BackupTarget) {
	s.Timeline.Add(timeline.Event{Kind: timeline.KindLog, Lane: "backup targets", Name: "backup target " + bt.Name + " available",
		Detail: map[string]string{"url": bt.Spec.URL}})
	s.Env.progressf("     %s: backup target %s: %s", s.Name, bt.Name, bt.Spec.URL)
}

// s3Secret is the secret key of the run's S3 endpoint (--backup-target
// s3), which a system restore needs to re-create a target over it.
func (s *Spec) s3Secret(ctx context.Context) string {
	ep, err := s.Env.s3Endpoint(ctx, "s3", "")
	Expect(err).NotTo(HaveOccurred(), "S3 endpoint s3")
	return ep.SecretKey
}
