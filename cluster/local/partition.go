package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/internal/nftpart"
	"github.com/faultline/faultline/timeline"
)

// Network partitions of a local cluster are nftables rules on loopback (see
// package nftpart), in a table named after the run directory: each node
// speaks from its own 127.0.0.N (its processes bind their dials to it,
// REFENGINE_SOURCE_ADDRESS) and the manager from 127.0.0.1. The rules also
// match the listening ports of the sides, which are this cluster's alone:
// other local clusters on the host use the same addresses.
//
// The manager's side is 127.0.0.1, where faultline itself and every other
// unbound client speak from too: while a node is partitioned from the
// manager, faultline's own TCP connections to that node's ports are cut as
// well (its readiness probes use the node's Unix socket and are not).

// partitionTable is the nftables table of the cluster whose run directory
// is dir: the same for every process that drives it, so that Down and
// Teardown remove what a crashed one left.
func partitionTable(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "faultline_" + hex.EncodeToString(sum[:6])
}

// Partition makes p with real packet loss. It needs the nft binary and
// CAP_NET_ADMIN; without them the error wraps nftpart.ErrUnavailable.
func (d *Driver) Partition(ctx context.Context, p cluster.Partition) error {
	r, err := d.partitionRules(p)
	if err != nil {
		return err
	}
	script, err := r.InjectScript()
	if err != nil {
		return err
	}
	if err := nftpart.Apply(ctx, []string{"nft"}, script); err != nil {
		return fmt.Errorf("partition %s: %w", p, err)
	}
	executed(ctx, "nft")
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: "network", Name: "partition " + p.String(),
		Detail: map[string]string{"table": r.Table, "chain": r.Chain}})
	return nil
}

// HealPartition removes p's rules; nothing to remove is no error.
func (d *Driver) HealPartition(ctx context.Context, p cluster.Partition) error {
	r, err := d.partitionRules(p)
	if err != nil {
		return err
	}
	script, err := r.HealScript()
	if err != nil {
		return err
	}
	if err := nftpart.Apply(ctx, []string{"nft"}, script); err != nil {
		return fmt.Errorf("heal partition %s: %w", p, err)
	}
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: "network", Name: "healed " + p.String()})
	return nil
}

// PartitionTable returns the nftables table (family ip) that holds this
// cluster's partitions.
func (d *Driver) PartitionTable() string { return partitionTable(d.cfg.Dir) }

// removePartitions deletes the cluster's table, if any, with every
// partition in it: Down and Up call it so that a run that crashed before
// healing leaves nothing behind. Without nft or the privilege to use it
// there can be no rules, and that is no error.
func removePartitions(ctx context.Context, dir string) error {
	// Cleanup runs even when the caller's context is done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	script, err := nftpart.DeleteTableScript(partitionTable(dir))
	if err != nil {
		return err
	}
	if err := nftpart.Apply(ctx, []string{"nft"}, script); err != nil && !errors.Is(err, nftpart.ErrUnavailable) {
		return fmt.Errorf("remove network partitions: %w", err)
	}
	return nil
}

func (d *Driver) partitionRules(p cluster.Partition) (nftpart.Rules, error) {
	if err := p.Validate(); err != nil {
		return nftpart.Rules{}, err
	}
	a, err := d.side(p.A)
	if err != nil {
		return nftpart.Rules{}, err
	}
	b, err := d.side(p.B)
	if err != nil {
		return nftpart.Rules{}, err
	}
	flows := []nftpart.Flow{{From: a, To: b}}
	if p.Dir() == cluster.Both {
		flows = append(flows, nftpart.Flow{From: b, To: a})
	}
	return nftpart.Rules{Table: partitionTable(d.cfg.Dir), Chain: nftpart.Name("p", p.A, p.B, string(p.Dir())),
		Flows: flows, Reject: p.Reject}, nil
}

// side is a node or the manager as its packets show it: the address it
// speaks from and the ports it listens on.
func (d *Driver) side(name string) (nftpart.Side, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.up {
		return nftpart.Side{}, fmt.Errorf("partition: local cluster is not up")
	}
	var addrs []string
	if name == cluster.ManagerEndpoint {
		u, err := url.Parse(d.mgrURL)
		if err != nil {
			return nftpart.Side{}, fmt.Errorf("partition: manager URL: %w", err)
		}
		addrs = []string{u.Host}
	}
	for _, n := range d.nodes {
		if n.Name == name {
			addrs = []string{n.RPC, n.NBD}
		}
	}
	if addrs == nil {
		return nftpart.Side{}, fmt.Errorf("partition: %q: %w", name, cluster.ErrUnknownNode)
	}
	s := nftpart.Side{Name: name}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nftpart.Side{}, fmt.Errorf("partition: %s address %q: %w", name, a, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return nftpart.Side{}, fmt.Errorf("partition: %s address %q: %w", name, a, err)
		}
		s.Addr = host
		s.Ports = append(s.Ports, n)
	}
	return s, nil
}
