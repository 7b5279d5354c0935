package kind

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/kind/chaosmesh"
)

// Executors of the faults that are Chaos Mesh objects (Config.ChaosExecutor).
const (
	// ExecutorAuto is Chaos Mesh when it is installed on the cluster, else native.
	ExecutorAuto = "auto"
	// ExecutorChaosMesh submits the objects to the Chaos Mesh on the cluster.
	ExecutorChaosMesh = "chaos-mesh"
	// ExecutorNative carries the same objects out through the Kubernetes API.
	ExecutorNative = "native"
)

// chaosGroup is Chaos Mesh's API group and version.
var chaosGroup = v1alpha1.SchemeGroupVersion

// chaosInjectTimeout bounds the wait for Chaos Mesh to report a fault injected.
const chaosInjectTimeout = 2 * time.Minute

// chaosMeshPresent says whether Chaos Mesh runs on the cluster: its API is served, and its
// controller manager and every daemon are ready. The reason says what is missing.
func (d *Driver) chaosMeshPresent(ctx context.Context) (bool, string) {
	if _, err := d.kube.Discovery().ServerResourcesForGroupVersion(chaosGroup.String()); err != nil {
		return false, "the API " + chaosGroup.String() + " is not served (no Chaos Mesh CRDs)"
	}
	deps, err := d.kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=chaos-mesh,app.kubernetes.io/component=controller-manager"})
	if err != nil {
		return false, "list Chaos Mesh's controller manager: " + err.Error()
	}
	ready := false
	for _, dep := range deps.Items {
		ready = ready || dep.Status.ReadyReplicas > 0
	}
	if !ready {
		return false, "no ready chaos-controller-manager"
	}
	dss, err := d.kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=chaos-mesh,app.kubernetes.io/component=chaos-daemon"})
	if err != nil {
		return false, "list Chaos Mesh's daemons: " + err.Error()
	}
	for _, ds := range dss.Items {
		if ds.Status.DesiredNumberScheduled > 0 && ds.Status.NumberReady == ds.Status.DesiredNumberScheduled {
			return true, ""
		}
	}
	return false, "chaos-daemon not ready on every node"
}

// chooseExecutor settles who carries out the Chaos Mesh faults of this run and says so.
func (d *Driver) chooseExecutor(ctx context.Context) error {
	present, why := d.chaosMeshPresent(ctx)
	ex := ExecutorNative
	switch d.cfg.ChaosExecutor {
	case ExecutorChaosMesh:
		if !present {
			return fmt.Errorf("kind: --chaos-executor chaos-mesh, but Chaos Mesh is not ready on cluster %s: %s (make chaos-mesh installs it)", d.cfg.Name, why)
		}
		ex = ExecutorChaosMesh
	case ExecutorAuto, "":
		if present {
			ex = ExecutorChaosMesh
		}
	}
	d.mu.Lock()
	d.executor = ex
	d.mu.Unlock()
	switch {
	case ex == ExecutorChaosMesh:
		d.log.Info("faults are Chaos Mesh objects, carried out by the Chaos Mesh on the cluster", "cluster", d.cfg.Name)
	case present:
		d.log.Info("Chaos Mesh is on the cluster but --chaos-executor native: faultline carries out the Chaos Mesh fault objects itself", "cluster", d.cfg.Name)
	default:
		d.log.Info("Chaos Mesh is not on the cluster: faultline carries out the Chaos Mesh fault objects itself (native executor)", "cluster", d.cfg.Name, "why", why)
	}
	return nil
}

// Executor is who carries out the Chaos Mesh faults: chaos-mesh or native (after Up).
func (d *Driver) Executor() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.executor
}

// chaosName names a fault object: unique in a run and across runs on a reused cluster.
func (d *Driver) chaosName(action, target string) string {
	n := d.chaosSeq.Add(1)
	name := fmt.Sprintf("faultline-%s-%s-%s-%d", action, strings.ReplaceAll(target, d.cfg.Name+"-", ""),
		strconv.FormatInt(time.Now().UnixMilli()%(36*36*36*36*36), 36), n)
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

// runPodChaos carries out a PodChaos with this run's executor, reports the execution to the
// context's fault trace, and returns the pods it hit (namespace/name).
func (d *Driver) runPodChaos(ctx context.Context, pc *v1alpha1.PodChaos) ([]string, error) {
	pc, err := chaosmesh.Validated(pc)
	if err != nil {
		return nil, err
	}
	ex := cluster.Execution{Executor: d.Executor(), Object: objectRef(pc.Kind, pc.Namespace, pc.Name), Action: string(pc.Spec.Action)}
	var targets []string
	switch ex.Executor {
	case ExecutorChaosMesh:
		u, err := chaosmesh.Unstructured(pc)
		if err != nil {
			return nil, err
		}
		var in chaosmesh.Injection
		in, err = d.submitChaos(ctx, u)
		if err != nil {
			return nil, err
		}
		ex.Injected, targets = in.Times, in.Targets
	default:
		ex.Injected, targets, err = d.nativePodChaos(ctx, pc)
		if err != nil {
			return nil, err
		}
	}
	cluster.ReportExecution(ctx, ex)
	return targets, nil
}

func objectRef(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// submitChaos creates a Chaos Mesh object, waits until Chaos Mesh reports every target injected
// and deletes it again. The faults faultline submits this way are one-shot (a pod or a
// container killed): once injected there is nothing for Chaos Mesh to hold, and deleting the
// object is its recovery (a no-op for kills); the heal then waits for the cluster to recover.
func (d *Driver) submitChaos(ctx context.Context, u *unstructured.Unstructured) (chaosmesh.Injection, error) {
	res, err := d.chaosResource(u)
	if err != nil {
		return chaosmesh.Injection{}, err
	}
	ref := objectRef(u.GetKind(), u.GetNamespace(), u.GetName())
	if _, err := res.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return chaosmesh.Injection{}, fmt.Errorf("submit %s: %w", ref, err)
	}
	in, werr := d.waitInjected(ctx, u)
	if derr := d.deleteChaos(context.WithoutCancel(ctx), u); derr != nil {
		d.log.Warn("delete chaos object", "object", ref, "err", derr)
	}
	return in, werr
}

// waitInjected polls the object's status until Chaos Mesh reports it injected.
func (d *Driver) waitInjected(ctx context.Context, u *unstructured.Unstructured) (chaosmesh.Injection, error) {
	res, err := d.chaosResource(u)
	if err != nil {
		return chaosmesh.Injection{}, err
	}
	ref := objectRef(u.GetKind(), u.GetNamespace(), u.GetName())
	ctx, cancel := context.WithTimeout(ctx, chaosInjectTimeout)
	defer cancel()
	var last chaosmesh.Injection
	for {
		cur, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
		if err == nil {
			in, err := chaosmesh.ReadInjection(cur)
			if err != nil {
				return in, err
			}
			if in.Injected {
				return in, nil
			}
			last = in
		}
		select {
		case <-ctx.Done():
			msg := "no injection recorded"
			if n := len(last.Failures); n > 0 {
				msg = "last failure: " + last.Failures[n-1]
			}
			return last, fmt.Errorf("%s not injected by Chaos Mesh (%s): %w", ref, msg, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deleteChaos deletes a Chaos Mesh object and waits until it is gone (Chaos Mesh recovers the
// targets, then drops its finalizer).
func (d *Driver) deleteChaos(ctx context.Context, u *unstructured.Unstructured) error {
	res, err := d.chaosResource(u)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := res.Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	for {
		if _, err := res.Get(ctx, u.GetName(), metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still there (Chaos Mesh did not recover it): %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// nativePodChaos does what Chaos Mesh does for a PodChaos, through the Kubernetes API: pod-kill
// deletes the selected pods with the object's grace period; container-kill has the node's
// container runtime kill the named container (crictl, as Chaos Mesh's daemon asks containerd).
func (d *Driver) nativePodChaos(ctx context.Context, pc *v1alpha1.PodChaos) ([]time.Time, []string, error) {
	ref := objectRef(pc.Kind, pc.Namespace, pc.Name)
	list, err := d.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: list pods: %w", ref, err)
	}
	pods, err := chaosmesh.SelectPods(pc, list.Items)
	if err != nil {
		return nil, nil, err
	}
	var times []time.Time
	var targets []string
	for i := range pods {
		p := &pods[i]
		switch pc.Spec.Action {
		case v1alpha1.PodKillAction:
			grace := pc.Spec.GracePeriod
			uid := p.UID
			err = d.kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace, Preconditions: &metav1.Preconditions{UID: &uid}})
			targets = append(targets, p.Namespace+"/"+p.Name)
		case v1alpha1.ContainerKillAction:
			for _, c := range pc.Spec.ContainerNames {
				if err = d.killContainer(ctx, p, c); err != nil {
					break
				}
				targets = append(targets, p.Namespace+"/"+p.Name+"/"+c)
			}
		default:
			err = fmt.Errorf("faultline's native executor does not carry out action %s (install Chaos Mesh: make chaos-mesh)", pc.Spec.Action)
		}
		if err != nil {
			return times, targets, fmt.Errorf("%s on %s/%s: %w", ref, p.Namespace, p.Name, err)
		}
		times = append(times, time.Now())
	}
	return times, targets, nil
}

// killContainer SIGKILLs a pod's container through the node's container runtime.
func (d *Driver) killContainer(ctx context.Context, p *corev1.Pod, name string) error {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != name {
			continue
		}
		_, id, ok := strings.Cut(cs.ContainerID, "://")
		if !ok || cs.State.Running == nil {
			return fmt.Errorf("container %s is not running", name)
		}
		if _, err := docker(ctx, "exec", p.Spec.NodeName, "crictl", "stop", "--timeout", "0", id); err != nil {
			return fmt.Errorf("kill container %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("no container %s", name)
}

// chaosResource is the dynamic client of an object's Chaos Mesh kind in its namespace.
func (d *Driver) chaosResource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	if err != nil || gv != chaosGroup {
		return nil, fmt.Errorf("%s %s: not a Chaos Mesh object (apiVersion %q, want %s)", u.GetKind(), u.GetName(), u.GetAPIVersion(), chaosGroup)
	}
	plural, err := chaosPlural(u.GetKind())
	if err != nil {
		return nil, err
	}
	if u.GetNamespace() == "" {
		return nil, fmt.Errorf("%s %s: no namespace", u.GetKind(), u.GetName())
	}
	return d.dyn.Resource(gv.WithResource(plural)).Namespace(u.GetNamespace()), nil
}

// chaosPlural is the resource name of a Chaos Mesh kind (the CRDs' plural is the lowercased
// kind: podchaos, networkchaos, …).
func chaosPlural(kind string) (string, error) {
	obj, err := chaosScheme().New(chaosGroup.WithKind(kind))
	if err != nil {
		return "", fmt.Errorf("%q is not a Chaos Mesh kind: %w", kind, err)
	}
	if _, ok := obj.(v1alpha1.InnerObject); !ok {
		return "", fmt.Errorf("%q is not a Chaos Mesh fault kind", kind)
	}
	return strings.ToLower(kind), nil
}

// chaosScheme knows Chaos Mesh's types.
func chaosScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err) // a broken api module, not an input
	}
	return s
}
