package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/timeline"
)

// How long a created backup target may take to report available, and how
// long its deletion may be refused while the spec's volumes are going away.
const (
	backupTargetReadyDeadline  = 30 * time.Second
	backupTargetDeleteDeadline = time.Minute
)

// BackupTarget returns the name of the backup target this run's specs back
// up to: "default" (the manager's file target) for --backup-target file;
// for s3, a target named "s3" created through the API over an S3 endpoint
// that belongs to no node, started once per suite and reused. It waits until
// the target reports available. When s3 is asked for and the environment
// cannot run the endpoint (versitygw missing, or a driver without S3
// endpoints such as kind), the spec is skipped with the reason and, for a
// missing versitygw, the install command: never silently.
//
// A target the spec creates is deleted in the spec's cleanup, registered
// before the target is created so that it runs after the cleanups of the
// volumes created later (the manager refuses to delete a target volumes
// still name).
func (s *Spec) BackupTarget(ctx context.Context) string {
	if s.Env.cfg.backupTarget() == BackupTargetFile {
		return api.DefaultBackupTarget
	}
	return s.s3Target(ctx, "s3", "")
}

// BackupTargetOnNode returns a target whose endpoint is one of node's
// processes, so that StopNode takes it down with everything else the node
// serves (Longhorn #9752): an S3 endpoint on that node, target named
// "s3-<node>", whatever --backup-target says (a file target has no endpoint
// to stop). It skips as BackupTarget does where that cannot run.
func (s *Spec) BackupTargetOnNode(ctx context.Context, node string) string {
	Expect(node).NotTo(BeEmpty(), "BackupTargetOnNode needs a node")
	return s.s3Target(ctx, "s3-"+node, node)
}

// s3Target makes target (over the endpoint of the same name, on node) for
// this spec and returns its name.
func (s *Spec) s3Target(ctx context.Context, target, node string) string {
	ep, err := s.Env.s3Endpoint(ctx, target, node)
	if skip := (*skipError)(nil); errors.As(err, &skip) {
		Skip(skip.Error())
	}
	Expect(err).NotTo(HaveOccurred(), "S3 endpoint for backup target %s", target)
	c := s.Client()
	DeferCleanup(func(ctx SpecContext) {
		Expect(deleteBackupTarget(ctx, c, target, backupTargetDeleteDeadline)).To(Succeed())
	}, NodeTimeout(backupTargetDeleteDeadline+30*time.Second))
	bt, err := ensureS3Target(ctx, c, target, ep, s.backupPrefix(), backupTargetReadyDeadline)
	Expect(err).NotTo(HaveOccurred())
	lane := node
	if lane == "" {
		lane = "backup targets"
	}
	s.Timeline.Add(timeline.Event{Kind: timeline.KindLog, Lane: lane, Name: "backup target " + target + " available",
		Detail: map[string]string{"url": bt.Spec.URL, "endpoint": ep.Endpoint}})
	s.Env.progressf("     %s: backup target %s: %s at %s", s.Name, target, bt.Spec.URL, ep.Endpoint)
	return target
}

// backupPrefix is where in the bucket this spec's targets keep their
// backups: its own place per spec and attempt, so that no spec sees
// another's backups, and the same for every call within the spec.
func (s *Spec) backupPrefix() string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(s.Name))
	return "faultline/" + name + "-" + strconv.FormatInt(s.start.UnixNano(), 36) + "/"
}

// s3Endpoints are the S3 endpoints a suite started, by name: one process
// per name serves every spec of the suite.
type s3Endpoints struct {
	mu sync.Mutex
	m  map[string]cluster.S3Endpoint
}

// skipError is an environment that cannot run what the spec asks for (as
// opposed to one that fails at it): the spec is skipped with its message.
type skipError struct{ msg string }

func (e *skipError) Error() string { return e.msg }

// s3Endpoint returns the suite's S3 endpoint name on node, starting it
// the first time.
func (e *Env) s3Endpoint(ctx context.Context, name, node string) (cluster.S3Endpoint, error) {
	e.s3.mu.Lock()
	defer e.s3.mu.Unlock()
	if ep, ok := e.s3.m[name]; ok {
		return ep, nil
	}
	ep, err := startS3Endpoint(ctx, e.Cluster, name, node)
	if err != nil {
		return ep, err
	}
	if e.s3.m == nil {
		e.s3.m = map[string]cluster.S3Endpoint{}
	}
	e.s3.m[name] = ep
	where := "no node"
	if node != "" {
		where = "node " + node
	}
	e.progressf("S3 endpoint %s on %s at %s", name, where, ep.Endpoint)
	return ep, nil
}

// startS3Endpoint starts an S3 endpoint on d, turning "this environment
// cannot" into a skipError.
func startS3Endpoint(ctx context.Context, d cluster.Driver, name, node string) (cluster.S3Endpoint, error) {
	s3, ok := d.(cluster.S3Endpoints)
	if !ok {
		return cluster.S3Endpoint{}, &skipError{fmt.Sprintf("backup target %s: the %T cluster driver cannot run S3 endpoints", name, d)}
	}
	ep, err := s3.StartS3Endpoint(ctx, name, node)
	if errors.Is(err, cluster.ErrNoS3Server) || errors.Is(err, cluster.ErrNotSupported) {
		return ep, &skipError{"backup target " + name + " skipped: " + err.Error()}
	}
	if err != nil {
		return ep, fmt.Errorf("start S3 endpoint %s: %w", name, err)
	}
	return ep, nil
}

// ensureS3Target creates the backup target name over ep's bucket under
// prefix (or points an existing one there, e.g. one a crashed run left on
// an attached cluster), then waits until the manager finds it available.
func ensureS3Target(ctx context.Context, c *client.Client, name string, ep cluster.S3Endpoint, prefix string, deadline time.Duration) (api.BackupTarget, error) {
	cred := &api.BackupTargetCredential{AccessKey: ep.AccessKey, SecretKey: ep.SecretKey, Endpoint: ep.Endpoint, Region: ep.Region}
	url := ep.URL(prefix)
	_, err := c.CreateBackupTarget(ctx, api.BackupTargetCreateRequest{Name: name, URL: url, Credential: cred})
	if api.IsCode(err, http.StatusConflict) {
		_, err = c.UpdateBackupTarget(ctx, name, api.BackupTargetUpdateRequest{URL: url, Credential: cred})
	}
	if err != nil {
		return api.BackupTarget{}, fmt.Errorf("create backup target %s (%s): %w", name, url, err)
	}
	return waitBackupTargetAvailable(ctx, c, name, deadline)
}

// waitBackupTargetAvailable asks the manager to check the target until it
// reports available, or fails with the last status message.
func waitBackupTargetAvailable(ctx context.Context, c *client.Client, name string, deadline time.Duration) (api.BackupTarget, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var (
		bt   api.BackupTarget
		last error
	)
	for {
		bt, last = c.SyncBackupTarget(ctx, name)
		if last == nil && bt.Status.Available {
			return bt, nil
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = errors.New(bt.Status.Message)
			}
			return bt, fmt.Errorf("backup target %s not available within %v: %w", name, deadline, last)
		case <-tick.C:
		}
	}
}

// deleteBackupTarget deletes the target, retrying while the manager refuses
// because volumes still name it (their deletions may still be under way);
// a target that is gone already is fine.
func deleteBackupTarget(ctx context.Context, c *client.Client, name string, deadline time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c.DeleteBackupTarget(ctx, name)
		if err == nil || api.IsNotFound(err) {
			return nil
		}
		if !api.IsCode(err, http.StatusConflict) {
			return fmt.Errorf("delete backup target %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete backup target %s within %v: %w", name, deadline, err)
		case <-tick.C:
		}
	}
}
