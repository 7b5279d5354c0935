package kind

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/kind/chaosmesh"
	"github.com/faultline/faultline/internal/nftpart"
)

// Network partitions on kind are nftables rules inside the node containers
// (the node image has nft), in a table named after the cluster: the
// packets of a flow A→B are dropped at B's input hook, matched by A's and
// B's InternalIPs and refengine's node ports (nodeRPCPort, nodeNBDPort;
// the node DaemonSet uses the host network). Kubelet and the rest of
// Kubernetes keep talking: only refengine's storage traffic is cut. The
// rules live in the containers' network namespaces and so die with the
// cluster; Down removes them from a cluster it keeps.
//
// Only node↔node partitions are supported: the manager is a pod behind a
// Service, and its packets can reach a node masqueraded behind another
// node's address, which a rule on addresses cannot tell apart.

// partitionTable is the table of the cluster's partitions in every node.
func (d *Driver) partitionTable() string { return nftpart.Name("faultline", d.cfg.Name) }

// containerScript is an nft script to run inside one node container.
type containerScript struct {
	container, script string
}

// Partition makes p with real packet drops between the node containers: a Chaos Mesh
// NetworkChaos partition between the two nodes' pods when Chaos Mesh carries out this run's
// faults, else (and for reject mode, which Chaos Mesh does not have) nft rules in the node
// containers.
func (d *Driver) Partition(ctx context.Context, p cluster.Partition) error {
	if d.Executor() == ExecutorChaosMesh && !p.Reject {
		return d.chaosPartition(ctx, p)
	}
	scripts, err := d.partitionScripts(p, true)
	if err != nil {
		return err
	}
	if err := applyIn(ctx, scripts); err != nil {
		return err
	}
	cluster.ReportExecution(ctx, cluster.Execution{Executor: "nft", Injected: []time.Time{time.Now()}})
	return nil
}

// HealPartition removes p: deletes its NetworkChaos and waits until Chaos Mesh has recovered
// it, or removes its rules from both node containers.
func (d *Driver) HealPartition(ctx context.Context, p cluster.Partition) error {
	d.mu.Lock()
	u := d.partitions[p.String()]
	d.mu.Unlock()
	if u != nil {
		if err := d.deleteChaos(ctx, u); err != nil {
			return fmt.Errorf("heal partition %s: %w", p, err)
		}
		d.mu.Lock()
		delete(d.partitions, p.String())
		d.mu.Unlock()
		return nil
	}
	scripts, err := d.partitionScripts(p, false)
	if err != nil {
		return err
	}
	return applyIn(ctx, scripts)
}

// chaosSide is the pod a side of a partition names: a node's instance manager, or the manager
// (Chaos Mesh partitions it inside its pod's network namespace, so the manager's pod traffic,
// masqueraded or not, is cut where nft in the node containers could not tell it apart).
func (d *Driver) chaosSide(name string) (chaosmesh.Target, error) {
	if name == cluster.ManagerEndpoint {
		return chaosmesh.Target{Namespace: Namespace, Labels: managerPodLabels}, nil
	}
	if _, err := d.node(name); err != nil {
		return chaosmesh.Target{}, err
	}
	return chaosmesh.Target{Namespace: Namespace, Labels: nodePodLabels, Node: name}, nil
}

// chaosPartition submits p as a NetworkChaos and waits until Chaos Mesh has injected it; the
// object stays until HealPartition.
func (d *Driver) chaosPartition(ctx context.Context, p cluster.Partition) error {
	if err := p.Validate(); err != nil {
		return err
	}
	a, err := d.chaosSide(p.A)
	if err != nil {
		return err
	}
	b, err := d.chaosSide(p.B)
	if err != nil {
		return err
	}
	nc, err := chaosmesh.Validated(chaosmesh.Partition(d.chaosName("partition", p.A+"-"+p.B), a, b, p.Dir() == cluster.AToB))
	if err != nil {
		return err
	}
	u, err := chaosmesh.Unstructured(nc)
	if err != nil {
		return err
	}
	res, err := d.chaosResource(u)
	if err != nil {
		return err
	}
	ref := objectRef(nc.Kind, nc.Namespace, nc.Name)
	if _, err := res.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("partition %s: submit %s: %w", p, ref, err)
	}
	d.mu.Lock()
	d.partitions[p.String()] = u
	d.mu.Unlock()
	in, err := d.waitInjected(ctx, u)
	if err != nil {
		return fmt.Errorf("partition %s: %w", p, err)
	}
	cluster.ReportExecution(ctx, cluster.Execution{Executor: ExecutorChaosMesh, Object: ref, Action: string(nc.Spec.Action), Injected: in.Times})
	return nil
}

// removePartitions deletes the partition table from every node container
// (Down of a kept cluster).
func (d *Driver) removePartitions(ctx context.Context) error {
	script, err := nftpart.DeleteTableScript(d.partitionTable())
	if err != nil {
		return err
	}
	var scripts []containerScript
	for _, n := range d.Nodes() {
		scripts = append(scripts, containerScript{n.Name, script})
	}
	return applyIn(ctx, scripts)
}

func applyIn(ctx context.Context, scripts []containerScript) error {
	var errs []error
	for _, s := range scripts {
		if err := nftpart.Apply(ctx, nodeNft(s.container), s.script); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", s.container, err))
		}
	}
	return errors.Join(errs...)
}

// nodeNft is the command that runs nft inside a node container.
func nodeNft(container string) []string { return []string{"docker", "exec", "-i", container, "nft"} }

// partitionScripts returns, per node container, the script that injects
// (or heals) p: each flow's rules go to its receiver.
func (d *Driver) partitionScripts(p cluster.Partition, inject bool) ([]containerScript, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.A == cluster.ManagerEndpoint || p.B == cluster.ManagerEndpoint {
		return nil, fmt.Errorf("partition %s on kind: %w: only node-to-node partitions are (the manager's pod traffic may be masqueraded)", p, errors.ErrUnsupported)
	}
	a, err := d.partitionSide(p.A)
	if err != nil {
		return nil, err
	}
	b, err := d.partitionSide(p.B)
	if err != nil {
		return nil, err
	}
	flows := []nftpart.Flow{{From: a, To: b}}
	if p.Dir() == cluster.Both {
		flows = append(flows, nftpart.Flow{From: b, To: a})
	}
	var out []containerScript
	for _, f := range flows {
		r := nftpart.Rules{Table: d.partitionTable(), Chain: nftpart.Name("p", p.A, p.B, string(p.Dir())),
			Flows: []nftpart.Flow{f}, Reject: p.Reject}
		script, err := r.HealScript()
		if inject {
			script, err = r.InjectScript()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, containerScript{container: f.To.Name, script: script})
	}
	return out, nil
}

func (d *Driver) partitionSide(name string) (nftpart.Side, error) {
	n, err := d.node(name)
	if err != nil {
		return nftpart.Side{}, fmt.Errorf("partition: %w", err)
	}
	return nftpart.Side{Name: n.Name, Addr: n.Address, Ports: []int{nodeRPCPort, nodeNBDPort}}, nil
}
