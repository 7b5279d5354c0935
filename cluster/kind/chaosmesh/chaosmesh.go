// Package chaosmesh builds the Chaos Mesh objects faultline's faults are on
// Kubernetes (github.com/chaos-mesh/chaos-mesh/api/v1alpha1) and reads back
// from their status whether Chaos Mesh injected them. Faults written as the
// objects chaos engineers already use can be carried out by a real Chaos
// Mesh, or by faultline itself where none is installed, with one description.
package chaosmesh

import (
	"context"
	"fmt"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Target names the refengine pods a fault is aimed at: those of one node of
// the cluster, in the namespace faultline deploys refengine to.
type Target struct {
	Namespace string            // refengine's namespace
	Labels    map[string]string // the pods' labels, e.g. app=refengine-node
	Node      string            // the Kubernetes node the pod runs on ("": any)
	Container string            // for container faults: the container's name
}

func (t Target) selector() v1alpha1.PodSelector {
	return v1alpha1.PodSelector{
		Mode: v1alpha1.OneMode,
		Selector: v1alpha1.PodSelectorSpec{
			GenericSelectorSpec: v1alpha1.GenericSelectorSpec{
				Namespaces:     []string{t.Namespace},
				LabelSelectors: t.Labels,
			},
			Nodes: nodes(t.Node),
		},
	}
}

func nodes(n string) []string {
	if n == "" {
		return nil
	}
	return []string{n}
}

// PodKill deletes the pod with grace seconds of grace (Chaos Mesh passes
// its gracePeriod to the deletion as is: 0, its default, deletes at once);
// the pod's controller makes a new one. The instance-manager deletion
// passes the pod's own termination grace period, as `kubectl delete pod`
// does; the manager restart passes 0.
func PodKill(name string, t Target, grace int64) *v1alpha1.PodChaos {
	pc := podChaos(name, t, v1alpha1.PodKillAction)
	pc.Spec.GracePeriod = grace
	return pc
}

// ContainerKill kills the container t.Container of the pod through the
// container runtime (Chaos Mesh's daemon on the node); kubelet restarts it.
func ContainerKill(name string, t Target) *v1alpha1.PodChaos {
	pc := podChaos(name, t, v1alpha1.ContainerKillAction)
	if t.Container != "" {
		pc.Spec.ContainerNames = []string{t.Container}
	}
	return pc
}

func podChaos(name string, t Target, action v1alpha1.PodChaosAction) *v1alpha1.PodChaos {
	return &v1alpha1.PodChaos{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.KindPodChaos},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.Namespace},
		Spec: v1alpha1.PodChaosSpec{
			ContainerSelector: v1alpha1.ContainerSelector{PodSelector: t.selector()},
			Action:            action,
		},
	}
}

// Fault is a Chaos Mesh fault object as its admission webhook sees it.
type Fault interface {
	runtime.Object
	GetName() string
	Default(context.Context, runtime.Object) error
	Validate() ([]string, error)
}

// Validated returns a copy of obj after the checks Chaos Mesh's admission
// webhook runs (its Default and Validate), so a fault that Chaos Mesh would
// refuse is refused before anything is submitted.
func Validated[T Fault](obj T) (T, error) {
	out := obj.DeepCopyObject().(T)
	kind := out.GetObjectKind().GroupVersionKind().Kind
	if err := out.Default(context.Background(), out); err != nil {
		return out, fmt.Errorf("chaos-mesh %s %s: defaults: %w", kind, out.GetName(), err)
	}
	if _, err := out.Validate(); err != nil {
		return out, fmt.Errorf("chaos-mesh %s %s: %w", kind, out.GetName(), err)
	}
	return out, nil
}

// Partition drops the packets between the pods of a and those of b, in
// both directions or (toOnly) only a's packets to b, as a NetworkChaos
// partition. refengine's node pods use the host network, which Chaos Mesh
// partitions only when its controller allows host-network testing
// (build/chaos-mesh/values.yaml does).
func Partition(name string, a, b Target, toOnly bool) *v1alpha1.NetworkChaos {
	dir := v1alpha1.Both
	if toOnly {
		dir = v1alpha1.To
	}
	target := a.selector()
	target.Selector = b.selector().Selector
	return &v1alpha1.NetworkChaos{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.KindNetworkChaos},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.Namespace},
		Spec: v1alpha1.NetworkChaosSpec{
			PodSelector: a.selector(),
			Action:      v1alpha1.PartitionAction,
			Direction:   dir,
			Target:      &target,
		},
	}
}

// Unstructured converts a Chaos Mesh object for a dynamic client, without
// the empty status the conversion would add (the status is Chaos Mesh's to
// write).
func Unstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("chaos-mesh object to unstructured: %w", err)
	}
	delete(m, "status")
	return &unstructured.Unstructured{Object: m}, nil
}
