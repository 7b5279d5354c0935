package kind

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/cluster"
)

// PauseNode stalls a node with `docker pause` of its container: the cgroup
// freezer stops every process in it, the instance manager and its engines
// but also kubelet and containerd. SIGSTOP inside the instance-manager pod
// would stall only refengine, but kubelet's liveness probe would then kill
// and restart the container, turning a stall into a restart; with the whole
// node frozen nothing can, as on the local cluster, where no supervisor
// notices a stopped process. Kubernetes marks the node NotReady after its
// grace period (about 40 s), as it would for a hung machine.
func (d *Driver) PauseNode(ctx context.Context, name string) error {
	if _, err := d.node(name); err != nil {
		return err
	}
	if _, err := docker(ctx, pauseArgs(true, name)...); err != nil {
		return fmt.Errorf("pause node %s: %w", name, err)
	}
	cluster.ReportExecution(ctx, cluster.Execution{Executor: "docker", Injected: []time.Time{time.Now()}})
	return nil
}

// ResumeNode thaws a paused node's container (`docker unpause`). A
// container that is not paused is left as it is, so resuming twice, or
// after a pause that failed, is not an error.
func (d *Driver) ResumeNode(ctx context.Context, name string) error {
	if _, err := d.node(name); err != nil {
		return err
	}
	paused, err := docker(ctx, "inspect", "--format", "{{.State.Paused}}", name)
	if err != nil {
		return fmt.Errorf("resume node %s: %w", name, err)
	}
	if paused != "true" {
		return nil
	}
	if _, err := docker(ctx, pauseArgs(false, name)...); err != nil {
		return fmt.Errorf("resume node %s: %w", name, err)
	}
	return nil
}

// pauseArgs is the docker command line that pauses (or unpauses) a node's
// container, which kind names after the node.
func pauseArgs(pause bool, node string) []string {
	if pause {
		return []string{"pause", node}
	}
	return []string{"unpause", node}
}
