package kind

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline/faultline/cluster"
)

// Status reports the manager pod and every storage node's instance manager. A node is running
// when its container and its instance-manager container run, and ready only when Kubernetes says
// so and the node answers JSON-RPC at its address: a stopped node container keeps a stale Ready
// pod status for up to a minute, so the API's word alone would lie.
func (d *Driver) Status(ctx context.Context) (cluster.Status, error) {
	st := cluster.Status{Driver: "kind", Dir: d.Dir(), ManagerURL: d.ManagerURL()}
	// A restarted node container may come back with another address: follow it.
	if nodes, err := d.storageNodes(ctx); err == nil {
		d.mu.Lock()
		d.nodes = nodes
		d.mu.Unlock()
	}
	pods, err := d.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, fmt.Errorf("kind status: %w", err)
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Labels["app"] == "refengine-manager" && p.DeletionTimestamp == nil {
			st.Manager = containerStatus("manager", p)
		}
	}
	d.mu.Lock()
	stopped := make(map[string]bool, len(d.stopped))
	for k, v := range d.stopped {
		stopped[k] = v
	}
	d.mu.Unlock()
	for _, n := range d.Nodes() {
		ps := cluster.ProcessStatus{Name: n.Name, Stopped: stopped[n.Name]}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Labels["app"] == "refengine-node" && p.Spec.NodeName == n.Name && p.DeletionTimestamp == nil {
				ps = containerStatus(n.Name, p)
				ps.Stopped = stopped[n.Name]
			}
		}
		if ps.Stopped {
			ps.Running, ps.Ready = false, false
		}
		if ps.Ready {
			ps.Ready = answers(ctx, d, n)
		}
		st.Nodes = append(st.Nodes, ps)
	}
	return st, nil
}

func containerStatus(name string, p *corev1.Pod) cluster.ProcessStatus {
	ps := cluster.ProcessStatus{Name: name, Log: p.Name}
	for _, c := range p.Status.ContainerStatuses {
		ps.Restarts = int(c.RestartCount)
		ps.Ready = c.Ready
		if r := c.State.Running; r != nil {
			ps.Running = p.Status.Phase == corev1.PodRunning
			ps.StartedAt = r.StartedAt.Time
		}
	}
	ps.Ready = ps.Ready && ps.Running
	return ps
}

// answers reports whether a node's JSON-RPC server replies to
// spdk_get_version within a second (proving the cluster credential).
func answers(ctx context.Context, d *Driver, n cluster.Node) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := cluster.DialNode(ctx, d, n)
	if err != nil {
		return false
	}
	defer c.Close()
	var v json.RawMessage
	return c.Call(ctx, "spdk_get_version", nil, &v) == nil
}
