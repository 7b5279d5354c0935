package kind

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/klient/decoder"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"

	"github.com/faultline/faultline/deploy"
)

// deploy applies package deploy's manifests afresh: an earlier deployment on a reused cluster
// is deleted first, with its disks and the manager's state, so every run starts empty.
func (d *Driver) deploy(ctx context.Context) error {
	start := time.Now()
	if err := d.undeploy(ctx); err != nil {
		return err
	}
	if err := d.newCredential(); err != nil {
		return err
	}
	names, err := fs.Glob(deploy.Manifests, "*.yaml")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		raw, err := fs.ReadFile(deploy.Manifests, name)
		if err != nil {
			return err
		}
		if err := decoder.DecodeEach(ctx, bytes.NewReader(d.render(raw)), decoder.CreateHandler(d.res), decoder.MutateOption(d.mutate)); err != nil {
			return fmt.Errorf("kind: apply %s: %w", name, err)
		}
	}
	cond := conditions.New(d.res)
	if err := wait.For(cond.DeploymentAvailable("refengine-manager", Namespace), wait.WithContext(ctx), wait.WithTimeout(2*time.Minute), wait.WithInterval(time.Second)); err != nil {
		return fmt.Errorf("kind: manager deployment not available: %w", err)
	}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "refengine-node", Namespace: Namespace}}
	if err := wait.For(cond.ResourceMatch(ds, daemonSetReady), wait.WithContext(ctx), wait.WithTimeout(2*time.Minute), wait.WithInterval(time.Second)); err != nil {
		return fmt.Errorf("kind: instance-manager daemonset not ready: %w", err)
	}
	d.log.Info("refengine deployed", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// daemonSetReady: the controller has seen the current spec and every scheduled pod is ready.
func daemonSetReady(obj k8s.Object) bool {
	ds := obj.(*appsv1.DaemonSet)
	s := ds.Status
	return s.ObservedGeneration >= ds.Generation && s.DesiredNumberScheduled > 0 &&
		s.NumberReady == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled
}

// clusterTokenSecret is the Secret holding the cluster credential
// (deploy/05-cluster-token.yaml).
const clusterTokenSecret = "refengine-cluster-token"

// render fills the manifests' placeholders.
func (d *Driver) render(raw []byte) []byte {
	s := strings.ReplaceAll(string(raw), deploy.RefengineImage, d.cfg.RefengineImage)
	s = strings.ReplaceAll(s, deploy.ClusterToken, d.Credential().String())
	return []byte(s)
}

// mutate turns the configured defects on in the refengine containers and gives the manager
// the configured restore rate limit.
func (d *Driver) mutate(obj k8s.Object) error {
	var spec *corev1.PodSpec
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec = &o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		spec = &o.Spec.Template.Spec
	default:
		return nil
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if len(d.cfg.Defects) > 0 {
			c.Env = append(c.Env, corev1.EnvVar{Name: "REFENGINE_DEFECTS", Value: strings.Join(d.cfg.Defects, ",")})
		}
		if c.Name == "node" {
			c.Args = d.diskArgs(c.Args)
		}
		if c.Name == "manager" && d.cfg.RestoreRateLimit > 0 {
			c.Args = append(c.Args, "--restore-rate-limit="+strconv.FormatInt(d.cfg.RestoreRateLimit, 10))
		}
	}
	return nil
}

// diskArgs replaces the manifest's one --disk argument with the configured disks: DisksPerNode
// files of DiskSize each, disk0.img, disk1.img, … on the node's hostPath.
func (d *Driver) diskArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--disk=disk0=") {
			out = append(out, a)
			continue
		}
		for i := range max(d.cfg.DisksPerNode, 1) {
			out = append(out, fmt.Sprintf("--disk=disk%d=/var/lib/refengine/disk%d.img:%dM", i, i, d.cfg.DiskSize>>20))
		}
	}
	return out
}

// undeploy deletes the namespace of an earlier deployment, waits until it is gone (every
// refengine process stopped), then empties the node disks and manager state on the host.
func (d *Driver) undeploy(ctx context.Context) error {
	ns := d.kube.CoreV1().Namespaces()
	err := ns.Delete(ctx, Namespace, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kind: delete namespace %s: %w", Namespace, err)
	}
	if err == nil {
		d.log.Info("deleting the earlier refengine deployment")
	}
	deadline := time.After(3 * time.Minute)
	for {
		_, err := ns.Get(ctx, Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("kind: namespace %s still terminating after 3m", Namespace)
		case <-time.After(500 * time.Millisecond):
		}
	}
	for _, sub := range hostDirs() {
		dir := filepath.Join(d.Dir(), sub)
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("kind: %w", err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("kind: %w", err)
			}
		}
	}
	return nil
}
