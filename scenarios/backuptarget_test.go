package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/internal/testtool"
	"github.com/faultline/faultline/internal/versitygw"
)

// What Spec.BackupTarget and BackupTargetOnNode do, outside Ginkgo, on a
// real local cluster: an S3 target over an endpoint of no node becomes
// available; one over node-1's endpoint becomes unavailable when node-1
// stops and available again after it starts; deletion waits out a volume
// that still names the target.
func TestS3BackupTargetsOnLocalCluster(t *testing.T) {
	versitygw.Path(t) // skips with the install command when missing
	d, err := local.New(local.Config{Dir: t.TempDir(), Refengine: testtool.Refengine(t), Nodes: 2, DiskSize: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := d.Up(ctx); err != nil {
		if errors.Is(err, local.ErrNoManager) || errors.Is(err, local.ErrNoNode) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Down(context.Background()) })
	c, err := cluster.ManagerClient(d)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	ep, err := startS3Endpoint(ctx, d, "s3", "")
	if err != nil {
		t.Fatal(err)
	}
	bt, err := ensureS3Target(ctx, c, "s3", ep, "faultline/test/", backupTargetReadyDeadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("target s3 available %v after the endpoint was asked for: %s", time.Since(start).Round(time.Millisecond), bt.Spec.URL)
	if !bt.Status.Available || bt.Spec.URL != "s3://backups@us-east-1/faultline/test/" || bt.Spec.Credential == nil ||
		!bt.Spec.Credential.HasSecret || bt.Spec.Credential.SecretKey != "" || bt.Spec.Credential.Endpoint != ep.Endpoint {
		t.Fatalf("target s3: %+v", bt)
	}
	// Asking again (a second call in the same spec) keeps it.
	if _, err := ensureS3Target(ctx, c, "s3", ep, "faultline/test/", backupTargetReadyDeadline); err != nil {
		t.Fatalf("ensure twice: %v", err)
	}

	onNode, err := startS3Endpoint(ctx, d, "s3-node-1", "node-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ensureS3Target(ctx, c, "s3-node-1", onNode, "faultline/test/", backupTargetReadyDeadline); err != nil {
		t.Fatal(err)
	}
	if err := d.StopNode(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	down, err := c.SyncBackupTarget(ctx, "s3-node-1")
	if err != nil || down.Status.Available || !strings.HasPrefix(down.Status.Message, "unreachable") {
		t.Fatalf("target of the stopped node: %+v, %v; want unavailable, unreachable", down.Status, err)
	}
	if other, err := c.SyncBackupTarget(ctx, "s3"); err != nil || !other.Status.Available {
		t.Fatalf("target of no node while node-1 is down: %+v, %v", other.Status, err)
	}
	if err := d.StartNode(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := waitBackupTargetAvailable(ctx, c, "s3-node-1", backupTargetReadyDeadline); err != nil {
		t.Fatalf("target after the node's restart: %v", err)
	}

	// A volume naming the target holds its deletion until the volume goes.
	if _, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "bt-user", Size: 16 << 20, NumberOfReplicas: 1, BackupTargetName: "s3"}); err != nil {
		t.Fatal(err)
	}
	if err := deleteBackupTarget(ctx, c, "s3", time.Second); err == nil {
		t.Fatal("target deleted while a volume names it")
	}
	deleted := make(chan error, 1)
	go func() { deleted <- deleteBackupTarget(ctx, c, "s3", backupTargetDeleteDeadline) }()
	if _, err := c.DeleteVolume(ctx, "bt-user"); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBackupTarget(ctx, "s3"); !api.IsNotFound(err) {
		t.Fatalf("target after deletion: %v", err)
	}
	if err := deleteBackupTarget(ctx, c, "s3", time.Second); err != nil {
		t.Fatalf("deleting a deleted target: %v", err)
	}
}

// Where no S3 endpoint can run, the spec is skipped, saying why (and how to
// install versitygw when it is missing), never passed silently.
func TestS3EndpointUnavailableSkips(t *testing.T) {
	_, err := startS3Endpoint(t.Context(), noS3Driver{}, "s3", "")
	if skip := (*skipError)(nil); !errors.As(err, &skip) || !strings.Contains(err.Error(), "cannot run S3 endpoints") {
		t.Errorf("driver without S3 endpoints: %v, want a skip", err)
	}
	_, err = startS3Endpoint(t.Context(), s3Failing{err: fmt.Errorf("%w: %w", cluster.ErrNoS3Server, versitygw.ErrNotFound)}, "s3", "")
	if skip := (*skipError)(nil); !errors.As(err, &skip) || !strings.Contains(err.Error(), versitygw.InstallCommand) {
		t.Errorf("missing versitygw: %v, want a skip naming %q", err, versitygw.InstallCommand)
	}
	_, err = startS3Endpoint(t.Context(), s3Failing{err: cluster.ErrNotSupported}, "s3", "")
	if skip := (*skipError)(nil); !errors.As(err, &skip) {
		t.Errorf("unsupported: %v, want a skip", err)
	}
	_, err = startS3Endpoint(t.Context(), s3Failing{err: errors.New("port taken")}, "s3", "")
	if skip := (*skipError)(nil); err == nil || errors.As(err, &skip) {
		t.Errorf("a real failure: %v, want an error that fails the spec", err)
	}
}

// noS3Driver is a cluster.Driver without StartS3Endpoint.
type noS3Driver struct{ cluster.Driver }

// s3Failing is a cluster.Driver whose StartS3Endpoint fails with err.
type s3Failing struct {
	cluster.Driver
	err error
}

func (d s3Failing) StartS3Endpoint(context.Context, string, string) (cluster.S3Endpoint, error) {
	return cluster.S3Endpoint{}, d.err
}

func TestReproduceBackupParams(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Seed: 7, BackupTarget: "file"}, "faultline run --scenario x --seed 7"},
		{Config{Seed: 7, BackupTarget: "s3"}, "faultline run --scenario x --seed 7 --backup-target s3"},
		{Config{Seed: 7, RestoreRateLimit: DefaultRestoreRateLimit}, "faultline run --scenario x --seed 7"},
		{Config{Seed: 7, RestoreRateLimit: NoRestoreRateLimit}, "faultline run --scenario x --seed 7 --restore-rate-limit 0"},
		{Config{Seed: 7, BackupTarget: "s3", RestoreRateLimit: 1 << 20}, "faultline run --scenario x --seed 7 --backup-target s3 --restore-rate-limit 1048576"},
	} {
		e := &Env{cfg: &tc.cfg, Seed: tc.cfg.Seed}
		if got := e.Reproduce("x"); got != tc.want {
			t.Errorf("Reproduce = %q, want %q", got, tc.want)
		}
	}
}

func TestFromEnvBackupParams(t *testing.T) {
	t.Setenv("FAULTLINE_BACKUP_TARGET", "")
	t.Setenv("FAULTLINE_RESTORE_RATE_LIMIT", "")
	c, err := FromEnv()
	if err != nil || c.backupTarget() != BackupTargetFile || c.restoreRateLimit() != DefaultRestoreRateLimit {
		t.Fatalf("defaults: %q %d, %v", c.BackupTarget, c.restoreRateLimit(), err)
	}
	t.Setenv("FAULTLINE_BACKUP_TARGET", "s3")
	t.Setenv("FAULTLINE_RESTORE_RATE_LIMIT", "0")
	if c, err := FromEnv(); err != nil || c.BackupTarget != "s3" || c.restoreRateLimit() != 0 {
		t.Fatalf("s3, no limit: %q %d, %v", c.BackupTarget, c.restoreRateLimit(), err)
	}
	t.Setenv("FAULTLINE_RESTORE_RATE_LIMIT", "8M")
	if c, err := FromEnv(); err != nil || c.restoreRateLimit() != 8<<20 {
		t.Fatalf("8M: %d, %v", c.restoreRateLimit(), err)
	}
	for _, kv := range [][2]string{{"FAULTLINE_BACKUP_TARGET", "nfs"}, {"FAULTLINE_RESTORE_RATE_LIMIT", "-1"}, {"FAULTLINE_RESTORE_RATE_LIMIT", "fast"}} {
		t.Setenv(kv[0], kv[1])
		if _, err := FromEnv(); err == nil {
			t.Errorf("%s=%s accepted", kv[0], kv[1])
		}
		t.Setenv(kv[0], "")
	}
}

// TestBackupTargetSpec runs the Spec helpers under Ginkgo, as scenarios
// call them, in a child process (Ginkgo runs one suite per process, and
// TestScenarios has this one): BackupTarget gives "default" for
// --backup-target file and an available "s3" target for s3,
// BackupTargetOnNode an available "s3-node-1", and the spec's cleanup
// deletes both.
func TestBackupTargetSpec(t *testing.T) {
	versitygw.Path(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestBackupTargetSpecChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "FAULTLINE_BT_CHILD=1", "FAULTLINE_REFENGINE="+testtool.Refengine(t))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Ran 3 of 3 Specs") || !strings.Contains(string(out), "SUCCESS!") {
		t.Fatalf("child suite: %v\n%s", err, out)
	}
}

func TestBackupTargetSpecChild(t *testing.T) {
	if os.Getenv("FAULTLINE_BT_CHILD") != "1" {
		t.Skip("run by TestBackupTargetSpec in a process of its own")
	}
	RegisterFailHandler(Fail)
	d, err := local.New(local.Config{Dir: t.TempDir(), Refengine: os.Getenv("FAULTLINE_REFENGINE"), Nodes: 2, DiskSize: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer d.Down(context.Background())
	c, err := cluster.ManagerClient(d)
	if err != nil {
		t.Fatal(err)
	}
	s3Env := &Env{cfg: &Config{BackupTarget: BackupTargetS3}, Seed: 1, Cluster: d, started: time.Now()}
	fileEnv := &Env{cfg: &Config{}, Seed: 1, Cluster: d, started: time.Now()}
	Describe("backup target helpers", Ordered, func() {
		It("file", func(ctx SpecContext) {
			s := fileEnv.newSpec(scenario{Name: "file"})
			Expect(s.BackupTarget(ctx)).To(Equal(api.DefaultBackupTarget))
		})
		It("s3", func(ctx SpecContext) {
			s := s3Env.newSpec(scenario{Name: "s3"})
			for _, name := range []string{s.BackupTarget(ctx), s.BackupTargetOnNode(ctx, "node-1"), s.BackupTarget(ctx)} {
				bt, err := c.GetBackupTarget(ctx, name)
				Expect(err).NotTo(HaveOccurred())
				Expect(bt.Status.Available).To(BeTrue(), "target %s: %s", name, bt.Status.Message)
			}
			Expect(s.BackupTargetOnNode(ctx, "node-1")).To(Equal("s3-node-1"))
		})
		It("deletes its targets in cleanup", func(ctx SpecContext) {
			for _, name := range []string{"s3", "s3-node-1"} {
				_, err := c.GetBackupTarget(ctx, name)
				Expect(api.IsNotFound(err)).To(BeTrue(), "target %s after the spec: %v", name, err)
			}
		})
	})
	RunSpecs(t, "backup target helpers")
}
