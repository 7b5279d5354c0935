package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/faultline/faultline/cluster"
)

// ErrPartitionUnsupported is returned by NetworkPartition's Inject when the
// cluster driver cannot partition its network.
var ErrPartitionUnsupported = errors.New("network partition: this cluster driver cannot partition the network")

// Partitioner makes and heals network partitions. The local cluster driver
// (and its control-socket client) implement it with nftables rules on the
// loopback addresses, the kind driver with rules inside the node
// containers. HealPartition must succeed when there is nothing to heal.
type Partitioner interface {
	Partition(ctx context.Context, p cluster.Partition) error
	HealPartition(ctx context.Context, p cluster.Partition) error
}

// NetworkPartition loses the packets between p.A and p.B (node names, or
// cluster.ManagerEndpoint), both ways or A's to B only, until Heal. d is
// usually the cluster driver; when it is not a Partitioner, Inject fails
// with ErrPartitionUnsupported.
func NetworkPartition(d any, p cluster.Partition) Fault {
	pt, _ := d.(Partitioner)
	return &networkPartition{pt: pt, p: p}
}

type networkPartition struct {
	pt Partitioner
	p  cluster.Partition
}

func (f *networkPartition) Name() string { return "network-partition" }

func (f *networkPartition) Params() map[string]string {
	mode := "drop"
	if f.p.Reject {
		mode = "reject"
	}
	return map[string]string{"a": f.p.A, "b": f.p.B, "direction": string(f.p.Dir()), "mode": mode}
}

func (f *networkPartition) Inject(ctx context.Context) error {
	if f.pt == nil {
		return ErrPartitionUnsupported
	}
	if err := f.p.Validate(); err != nil {
		return err
	}
	if err := f.pt.Partition(ctx, f.p); err != nil {
		return fmt.Errorf("network partition %s: %w", f.p, err)
	}
	return nil
}

func (f *networkPartition) Heal(ctx context.Context) error {
	if f.pt == nil || f.p.Validate() != nil {
		return nil // nothing was injected
	}
	if err := f.pt.HealPartition(ctx, f.p); err != nil {
		return fmt.Errorf("heal network partition %s: %w", f.p, err)
	}
	return nil
}
