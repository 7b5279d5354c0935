package kind

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// killManagerOptions delete the manager's pod with no grace period: the API object goes at once
// and kubelet kills the container as abruptly as it will (SIGTERM, then SIGKILL about two
// seconds later), which is the nearest Kubernetes comes to SIGKILLing the process. The
// Deployment's replacement cannot run beside the old one on their shared state: the manager's
// bbolt store is locked while open.
func killManagerOptions() metav1.DeleteOptions {
	var zero int64
	return metav1.DeleteOptions{GracePeriodSeconds: &zero}
}

// KillManager deletes the manager's pod and returns once it is gone; the Deployment creates a new
// one on the same state (a hostPath) behind the same Service.
func (d *Driver) KillManager(ctx context.Context) error {
	pods, err := d.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=refengine-manager"})
	if err != nil {
		return fmt.Errorf("kill manager: list pods: %w", err)
	}
	var errs []error
	found := false
	for i := range pods.Items {
		if p := &pods.Items[i]; p.DeletionTimestamp == nil {
			found = true
			errs = append(errs, d.deletePod(ctx, p, killManagerOptions()))
		}
	}
	if !found {
		return errors.New("kill manager: no live manager pod")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kill manager: %w", err)
	}
	return nil
}
