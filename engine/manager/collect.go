package manager

import (
	"context"
	"fmt"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

// DefectRebuildLeftoversKept re-introduces the leak outside testing found:
// replicas the manager forgot (their node was down when it removed them,
// or an instance manager died during a rebuild) stay on disk for good.
const DefectRebuildLeftoversKept = "rebuild-leftovers-kept"

// gcKeyPrefix queues the collection of one node's orphaned replicas.
const gcKeyPrefix = "gc/"

// collectOrphans deletes, with their data, the replicas a node holds that
// the manager does not know on that node: those it forgot while the node
// was down, and those whose creation or deletion a crash interrupted; then
// the node's copies of backing images the manager deleted. The
// node is asked first and the store read afterwards: the manager records a
// replica before the node creates it and forgets it only after the node
// deleted it, so a replica created or deleted meanwhile is never taken for
// an orphan. Deleting is idempotent, so a race costs a repeated call.
func (c *Controller) collectOrphans(ctx context.Context, node string) error {
	if c.m.usesDefect(DefectRebuildLeftoversKept) {
		return nil
	}
	var n api.Node
	var found bool
	err := c.m.store.View(func(tx *Tx) error {
		var err error
		n, found, err = get[api.Node](tx, api.KindNode, node)
		return err
	})
	if err != nil || !found || n.Status.State != api.NodeUp {
		return err
	}
	ag, err := c.m.cfg.Agents.Agent(ctx, n)
	if err != nil {
		return err
	}
	onNode, err := ag.ReplicaList(ctx)
	if err != nil {
		return fmt.Errorf("list replicas on %s: %w", node, err)
	}
	var known map[string]api.Replica
	err = c.m.store.View(func(tx *Tx) error {
		reps, err := list[api.Replica](tx, api.KindReplica, nil)
		known = map[string]api.Replica{}
		for _, r := range reps {
			known[r.Name] = r
		}
		return err
	})
	if err != nil {
		return err
	}
	var errs []string
	for _, r := range onNode {
		if k, ok := known[r.Name]; ok && k.Spec.Node == node {
			continue
		}
		c.log.Warn("deleting a replica the manager does not know on this node", "node", node, "replica", r.Name, "volume", r.Volume)
		if err := ag.ReplicaDelete(ctx, r.Name, true); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", r.Name, err))
		}
	}
	// Copies of backing images the manager no longer has, once nothing on
	// the node clones them (the orphaned replicas above went first).
	copies, err := ag.BackingImageList(ctx)
	if err != nil {
		return fmt.Errorf("list backing image copies on %s: %w", node, err)
	}
	var images map[string]bool
	err = c.m.store.View(func(tx *Tx) error {
		bis, err := list[api.BackingImage](tx, api.KindBackingImage, nil)
		images = map[string]bool{}
		for _, b := range bis {
			images[b.Name] = true
		}
		return err
	})
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, cp := range copies {
		if images[cp.Image] || done[cp.Image] {
			continue
		}
		done[cp.Image] = true
		c.log.Warn("deleting copies of a backing image the manager does not have", "node", node, "image", cp.Image)
		if err := ag.BackingImageDelete(ctx, cp.Image); err != nil {
			errs = append(errs, fmt.Sprintf("backing image %s: %v", cp.Image, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("collect orphans on %s: %s", node, strings.Join(errs, "; "))
	}
	return nil
}
