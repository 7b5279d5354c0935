package kind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/faultline/faultline/cluster"
)

// StopNode kills the node's container (docker stop with no grace: every process of the node,
// kubelet and refengine included, dies at once); its disk stays on the host.
func (d *Driver) StopNode(ctx context.Context, name string) error {
	if _, err := d.node(name); err != nil {
		return err
	}
	if _, err := docker(ctx, "stop", "--time", "0", name); err != nil {
		return fmt.Errorf("stop node %s: %w", name, err)
	}
	d.mu.Lock()
	d.stopped[name] = true
	d.mu.Unlock()
	return nil
}

// StartNode starts a stopped node's container and returns once kubelet has run the instance
// manager again and it answers. A node container may come back with a new address; the node
// list follows it.
func (d *Driver) StartNode(ctx context.Context, name string) error {
	if _, err := d.node(name); err != nil {
		return err
	}
	if _, err := docker(ctx, "start", name); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	d.mu.Lock()
	delete(d.stopped, name)
	d.mu.Unlock()
	if err := cluster.WaitNodeReady(ctx, d, name); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	return nil
}

// DeleteInstanceManager deletes the node's instance-manager pod as `kubectl delete pod` does (its
// grace period, then SIGKILL) and returns once the pod is gone; the DaemonSet creates a new one.
func (d *Driver) DeleteInstanceManager(ctx context.Context, name string) error {
	pod, err := d.nodePod(ctx, name)
	if err != nil {
		return fmt.Errorf("delete instance manager on %s: %w", name, err)
	}
	if err := d.deletePod(ctx, pod, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete instance manager: %w", err)
	}
	return nil
}

// deletePod deletes that very pod (by UID: not a replacement of the same name) and waits until it
// is gone.
func (d *Driver) deletePod(ctx context.Context, pod *corev1.Pod, opts metav1.DeleteOptions) error {
	uid := pod.UID
	opts.Preconditions = &metav1.Preconditions{UID: &uid}
	err := d.kube.CoreV1().Pods(Namespace).Delete(ctx, pod.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	for {
		p, err := d.kube.CoreV1().Pods(Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && p.UID != uid) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s still there: %w", pod.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notHere is the exit status of `refengine kill-engine` when the engine is not in that pod.
const notHere = 3

// KillEngine SIGKILLs one engine process inside whichever instance-manager pod runs it, through
// the API's exec (`refengine kill-engine`, as the pod's image has no shell).
func (d *Driver) KillEngine(ctx context.Context, engine string) error {
	pods, err := d.nodePods(ctx)
	if err != nil {
		return fmt.Errorf("kill engine %s: %w", engine, err)
	}
	var tried []string
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		out, code, err := d.exec(ctx, p.Name, "node", []string{"/refengine", "kill-engine", "--name", engine})
		switch {
		case err == nil:
			return nil
		case code == notHere:
			tried = append(tried, p.Spec.NodeName)
		default:
			return fmt.Errorf("kill engine %s in pod %s: %w: %s", engine, p.Name, err, strings.TrimSpace(out))
		}
	}
	return fmt.Errorf("kill engine %s: no such engine process in the instance managers of %s", engine, strings.Join(tried, ", "))
}

// exec runs a command in a pod's container and returns its combined output and exit status.
func (d *Driver) exec(ctx context.Context, pod, container string, command []string) (string, int, error) {
	var out bytes.Buffer
	code, err := d.execStream(ctx, pod, container, command, &out, &out)
	return out.String(), code, err
}

// execStream runs a command in a pod's container with its output streamed to stdout and
// stderr as it comes, and returns its exit status.
func (d *Driver) execStream(ctx context.Context, pod, container string, command []string, stdout, stderr io.Writer) (int, error) {
	req := d.kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(Namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(d.rest, "POST", req.URL())
	if err != nil {
		return -1, err
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus(), err
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// nodePods are the instance-manager pods.
func (d *Driver) nodePods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := d.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=refengine-node"})
	if err != nil {
		return nil, fmt.Errorf("list instance-manager pods: %w", err)
	}
	return list.Items, nil
}

// nodePod is the live (not terminating) instance-manager pod of a node.
func (d *Driver) nodePod(ctx context.Context, node string) (*corev1.Pod, error) {
	if _, err := d.node(node); err != nil {
		return nil, err
	}
	pods, err := d.nodePods(ctx)
	if err != nil {
		return nil, err
	}
	for i := range pods {
		if pods[i].Spec.NodeName == node && pods[i].DeletionTimestamp == nil {
			return &pods[i], nil
		}
	}
	return nil, fmt.Errorf("no instance-manager pod on node %s", node)
}
