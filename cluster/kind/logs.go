package kind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Logs saves the log of every refengine pod (and the previous container's, after a restart)
// into Config.LogDir and maps each process name (manager, node names, other
// pods by pod name) to its file.
func (d *Driver) Logs(ctx context.Context) (map[string]string, error) {
	return d.saveLogs(ctx, func(corev1.Pod) bool { return true })
}

func (d *Driver) saveLogs(ctx context.Context, want func(corev1.Pod) bool) (map[string]string, error) {
	pods, err := d.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("kind logs: %w", err)
	}
	dir := d.cfg.LogDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kind logs: %w", err)
	}
	out := map[string]string{}
	var errs []error
	for _, p := range pods.Items {
		if !want(p) {
			continue
		}
		for _, c := range p.Spec.Containers {
			path := filepath.Join(dir, p.Name+".log")
			if err := d.saveLog(ctx, p.Name, c.Name, false, path); err != nil {
				errs = append(errs, err)
				continue
			}
			// The previous container's log exists only after a restart; its absence is normal.
			_ = d.saveLog(ctx, p.Name, c.Name, true, filepath.Join(dir, p.Name+".previous.log"))
			out[processName(p)] = path
		}
	}
	return out, errors.Join(errs...)
}

func (d *Driver) saveLog(ctx context.Context, pod, container string, previous bool, path string) error {
	rc, err := d.kube.CoreV1().Pods(Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: previous}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("log of %s/%s: %w", pod, container, err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("log of %s/%s: %w", pod, container, err)
	}
	return f.Close()
}

// processName names a pod as the local cluster names processes: "manager", or the node name for
// an instance manager; other pods by their own name.
func processName(p corev1.Pod) string {
	switch p.Labels["app"] {
	case "refengine-manager":
		return "manager"
	case "refengine-node":
		return p.Spec.NodeName
	}
	return p.Name
}

// LogTail returns the last n lines of a process's current log, read through the API.
func (d *Driver) LogTail(process string, n int) (string, error) {
	ctx := context.Background()
	pods, err := d.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("kind log tail: %w", err)
	}
	lines := int64(n)
	for _, p := range pods.Items {
		if processName(p) != process || p.DeletionTimestamp != nil || len(p.Spec.Containers) == 0 {
			continue
		}
		b, err := d.kube.CoreV1().Pods(Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: p.Spec.Containers[0].Name, TailLines: &lines}).DoRaw(ctx)
		if err != nil {
			return "", fmt.Errorf("log tail of %s: %w", p.Name, err)
		}
		return strings.TrimRight(string(b), "\n"), nil
	}
	return "", fmt.Errorf("kind log tail: no pod for process %s", process)
}
