package kind

import (
	"context"
	"errors"
	"fmt"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline/faultline/cluster/kind/chaosmesh"
)

// managerPodLabels select the manager's pod (deploy/20-manager.yaml).
var managerPodLabels = map[string]string{"app": "refengine-manager"}

// killManagerChaos is the manager restart as a Chaos Mesh PodChaos pod-kill with no grace
// period: the API object goes at once and kubelet kills the container as abruptly as it will
// (SIGTERM, then SIGKILL about two seconds later), which is the nearest Kubernetes comes to
// SIGKILLing the process. The Deployment's replacement cannot run beside the old one on their
// shared state: the manager's bbolt store is locked while open.
func killManagerChaos(name string) *v1alpha1.PodChaos {
	return chaosmesh.PodKill(name, chaosmesh.Target{Namespace: Namespace, Labels: managerPodLabels}, 0)
}

// KillManager kills the manager's pod and returns once it is gone; the Deployment creates a new
// one on the same state (a hostPath) behind the same Service.
func (d *Driver) KillManager(ctx context.Context) error {
	pods, err := d.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=refengine-manager"})
	if err != nil {
		return fmt.Errorf("kill manager: list pods: %w", err)
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	if len(live) != 1 {
		return errors.New("kill manager: want one live manager pod, have " + fmt.Sprint(len(live)))
	}
	if err := d.killPods(ctx, killManagerChaos(d.chaosName("pod-kill", "manager")), live); err != nil {
		return fmt.Errorf("kill manager: %w", err)
	}
	return nil
}
