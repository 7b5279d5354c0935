package chaosmesh

import (
	"fmt"
	"slices"
	"sort"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// SelectPods picks the pods a PodChaos aims at from pods, for an executor
// that is not Chaos Mesh (faultline's native one). It understands the
// selector faultline's own objects use — namespaces, label selectors, nodes
// — with modes one and all, and refuses any other selector field or mode
// rather than pick different pods than Chaos Mesh would. Terminating pods
// are never picked. Mode one picks the first pod by name, not a random one,
// so a run is reproducible.
func SelectPods(pc *v1alpha1.PodChaos, pods []corev1.Pod) ([]corev1.Pod, error) {
	sel := pc.Spec.Selector
	switch {
	case len(sel.Pods) > 0:
		return nil, unsupported(pc, "selector.pods")
	case len(sel.FieldSelectors) > 0:
		return nil, unsupported(pc, "selector.fieldSelectors")
	case len(sel.ExpressionSelectors) > 0:
		return nil, unsupported(pc, "selector.expressionSelectors")
	case len(sel.AnnotationSelectors) > 0:
		return nil, unsupported(pc, "selector.annotationSelectors")
	case len(sel.NodeSelectors) > 0:
		return nil, unsupported(pc, "selector.nodeSelectors")
	case len(sel.PodPhaseSelectors) > 0:
		return nil, unsupported(pc, "selector.podPhaseSelectors")
	case pc.Spec.Mode != v1alpha1.OneMode && pc.Spec.Mode != v1alpha1.AllMode:
		return nil, unsupported(pc, "mode "+string(pc.Spec.Mode))
	}
	match := labels.SelectorFromSet(sel.LabelSelectors)
	var out []corev1.Pod
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil,
			len(sel.Namespaces) > 0 && !slices.Contains(sel.Namespaces, p.Namespace),
			len(sel.Namespaces) == 0 && p.Namespace != pc.Namespace,
			len(sel.Nodes) > 0 && !slices.Contains(sel.Nodes, p.Spec.NodeName),
			!match.Matches(labels.Set(p.Labels)):
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("chaos-mesh %s %s: no pod matches the selector", pc.Kind, pc.Name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	if pc.Spec.Mode == v1alpha1.OneMode {
		out = out[:1]
	}
	return out, nil
}

func unsupported(pc *v1alpha1.PodChaos, what string) error {
	return fmt.Errorf("chaos-mesh %s %s: faultline's native executor does not carry out %s (install Chaos Mesh: make chaos-mesh)", pc.Kind, pc.Name, what)
}
