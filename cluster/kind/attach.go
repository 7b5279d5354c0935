package kind

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/kind/chaosmesh"
)

// Attach connects to a running kind cluster without deploying anything, for hands-on faults
// (faultline fault apply): it reads the cluster's kubeconfig from kind and settles the
// executor as Up does. Only NodeImage and RefengineImage of cfg may be empty.
func Attach(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.NodeImage == "" {
		cfg.NodeImage = "unused:attach"
	}
	if cfg.RefengineImage == "" {
		cfg.RefengineImage = "unused:attach"
	}
	d, err := New(cfg)
	if err != nil {
		return nil, err
	}
	bin := d.cfg.Kind
	if bin == "" {
		bin = "kind"
	}
	out, err := exec.CommandContext(ctx, bin, "get", "kubeconfig", "--name", d.cfg.Name).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = string(ee.Stderr)
		}
		return nil, fmt.Errorf("kind: no cluster %s to attach to: %s", d.cfg.Name, msg)
	}
	dir, err := os.MkdirTemp("", "faultline-kubeconfig-")
	if err != nil {
		return nil, fmt.Errorf("kind: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return nil, fmt.Errorf("kind: %w", err)
	}
	if err := d.connect(path); err != nil {
		return nil, err
	}
	if err := d.chooseExecutor(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// ApplyChaos carries out a Chaos Mesh object by hand. With Chaos Mesh it submits the object and
// returns once Chaos Mesh reports it injected; the object stays until DeleteChaos (a partition
// or a stress lasts until then, or for its duration). Without it, faultline carries out a
// PodChaos pod-kill or container-kill itself (one-shot: nothing stays) and refuses the rest.
func (d *Driver) ApplyChaos(ctx context.Context, o chaosmesh.Object) (cluster.Execution, error) {
	ex := cluster.Execution{Executor: d.Executor(), Object: o.Ref()}
	if d.Executor() == ExecutorChaosMesh {
		res, err := d.chaosResource(o.Unstructured)
		if err != nil {
			return ex, err
		}
		if _, err := res.Create(ctx, o.Unstructured, metav1.CreateOptions{}); err != nil {
			return ex, fmt.Errorf("submit %s: %w", o.Ref(), err)
		}
		in, err := d.waitInjected(ctx, o.Unstructured)
		ex.Injected = in.Times
		return ex, err
	}
	pc := o.PodChaos()
	if pc == nil {
		return ex, fmt.Errorf("%s: without Chaos Mesh faultline carries out PodChaos only (install Chaos Mesh: make chaos-mesh)", o.Ref())
	}
	ex.Action = string(pc.Spec.Action)
	times, _, err := d.nativePodChaos(ctx, pc)
	ex.Injected = times
	return ex, err
}

// DeleteChaos deletes an object ApplyChaos submitted and waits until Chaos Mesh has recovered
// its targets. Without Chaos Mesh there is nothing to delete: the native executor's faults are
// one-shot.
func (d *Driver) DeleteChaos(ctx context.Context, o chaosmesh.Object) error {
	if d.Executor() != ExecutorChaosMesh {
		return nil
	}
	if err := d.deleteChaos(ctx, o.Unstructured); err != nil {
		return fmt.Errorf("delete %s: %w", o.Ref(), err)
	}
	return nil
}
