package kind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/kind/chaosmesh"
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
	cluster.ReportExecution(ctx, cluster.Execution{Executor: "docker", Injected: []time.Time{time.Now()}})
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
// The deletion is a Chaos Mesh PodChaos pod-kill, carried out by Chaos Mesh or natively.
func (d *Driver) DeleteInstanceManager(ctx context.Context, name string) error {
	pod, err := d.nodePod(ctx, name)
	if err != nil {
		return fmt.Errorf("delete instance manager on %s: %w", name, err)
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	pc := chaosmesh.PodKill(d.chaosName("pod-kill", name), chaosmesh.Target{Namespace: Namespace, Labels: nodePodLabels, Node: name}, grace)
	if err := d.killPods(ctx, pc, []corev1.Pod{*pod}); err != nil {
		return fmt.Errorf("delete instance manager on %s: %w", name, err)
	}
	return nil
}

// nodePodLabels select the instance-manager pods (deploy/30-node.yaml).
var nodePodLabels = map[string]string{"app": "refengine-node"}

// killPods carries out a pod-kill meant to hit exactly pods and waits until they are gone. It
// fails when the executor killed another pod than those (a replacement already there).
func (d *Driver) killPods(ctx context.Context, pc *v1alpha1.PodChaos, pods []corev1.Pod) error {
	hit, err := d.runPodChaos(ctx, pc)
	if err != nil {
		return err
	}
	for i := range pods {
		if id := pods[i].Namespace + "/" + pods[i].Name; !slices.Contains(hit, id) {
			return fmt.Errorf("%s killed %v, not pod %s", objectRef(pc.Kind, pc.Namespace, pc.Name), hit, id)
		}
		if err := d.waitPodGone(ctx, &pods[i]); err != nil {
			return err
		}
	}
	return nil
}

// waitPodGone waits until that very pod (by UID: not a replacement of the same name) is gone.
func (d *Driver) waitPodGone(ctx context.Context, pod *corev1.Pod) error {
	for {
		p, err := d.kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && p.UID != pod.UID) {
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
			// Chaos Mesh has no fault for one process of a container: the engine is one of the
			// instance manager's processes, killed by an exec into its pod.
			cluster.ReportExecution(ctx, cluster.Execution{Executor: "exec", Injected: []time.Time{time.Now()}})
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
