package manager

import (
	"fmt"
	"slices"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// DefectUpgradeCrashLosesAttachment re-introduces seed 002 (Longhorn
// #10751) by its real mechanism: the cleanup for consumers deleted with
// grace 0 deletes every attachment ticket of the consumer's volume on its
// node, unconditionally (longhorn-manager 509a284ec). After an engine
// crash the remount replaces the consumer by a new one on the same node,
// and when the old one passes through grace 0 the cleanup takes the new
// consumer's ticket too: the volume detaches under it.
const DefectUpgradeCrashLosesAttachment = "upgrade-crash-loses-attachment"

// consumersKeyPrefix queues "consumers/<volume>": the consumers of one
// volume (remounts, deletions, attach for pending ones, running state).
const consumersKeyPrefix = "consumers/"

// reconcileConsumers drives the consumers of one volume:
//
//   - a remount (volume.status.remountRequestedAt after a consumer's
//     creation) deletes the consumer gracefully and, for a workload's
//     consumer, creates its replacement on the same node;
//   - a consumer whose grace period is over passes through grace 0: the
//     force-deleted cleanup runs, then its own ticket is given back and it
//     is gone;
//   - a pending consumer attaches a detached volume to its node, and turns
//     running once the volume serves there.
func (c *Controller) reconcileConsumers(volume string) error {
	var next time.Duration
	err := c.m.store.Update(func(tx *Tx) error {
		next = 0
		cons, err := list[api.Consumer](tx, api.KindConsumer, func(x api.Consumer) bool { return x.Spec.Volume == volume })
		if err != nil || len(cons) == 0 {
			return err
		}
		slices.SortFunc(cons, func(a, b api.Consumer) int { return a.Status.CreatedAt.Compare(b.Status.CreatedAt) })
		v, ok, err := get[api.Volume](tx, api.KindVolume, volume)
		if err != nil {
			return err
		}
		now := tx.Now()
		if !ok {
			for _, x := range cons {
				if msg := fmt.Sprintf("volume %q does not exist", volume); x.Status.Message != msg {
					x.Status.Message = msg
					if err := tx.Put(api.KindConsumer, x.Name, x); err != nil {
						return err
					}
				}
			}
			return nil
		}
		volChanged := false
		// Remounts first: their replacements join the pass below.
		for i := range cons {
			x := &cons[i]
			if x.Status.State == api.ConsumerTerminating || v.Status.RemountRequestedAt.IsZero() || !x.Status.CreatedAt.Before(v.Status.RemountRequestedAt) {
				continue
			}
			startConsumerDeletion(x, now, false)
			x.Status.Message = "volume requested a remount: its engine died"
			if x.Spec.Workload != "" {
				gen, name, err := nextConsumerName(tx, x.Spec.Workload, x.Spec.Generation+1)
				if err != nil {
					return err
				}
				req := api.ConsumerCreateRequest{Name: name, Volume: volume, Node: x.Spec.Node,
					Workload: x.Spec.Workload, TerminationGracePeriod: x.Spec.TerminationGracePeriod}
				repl, err := putNewConsumer(tx, req, gen)
				if err != nil {
					return fmt.Errorf("replace consumer %s: %w", x.Name, err)
				}
				x.Status.ReplacedBy = repl.Name
				cons = append(cons, repl)
				c.log.Info("remount: consumer replaced", "volume", volume, "old", x.Name, "new", repl.Name, "node", x.Spec.Node)
				// putNewConsumer stored the volume with the new ticket.
				if v, _, err = get[api.Volume](tx, api.KindVolume, volume); err != nil {
					return err
				}
			}
			if err := tx.Put(api.KindConsumer, x.Name, *x); err != nil {
				return err
			}
		}
		var gone []string
		for i := range cons {
			x := &cons[i]
			if x.Status.State != api.ConsumerTerminating {
				continue
			}
			if wait := x.Status.DeletionDeadline.Sub(now); wait > 0 {
				if next == 0 || wait < next {
					next = wait
				}
				continue
			}
			// Grace 0: the force-deleted cleanup, then the consumer's own
			// ticket goes with it.
			c.cleanupForceDeletedConsumer(&v, *x, cons)
			removeTickets(&v, func(t api.AttachmentTicket) bool { return t.ID == api.ConsumerTicketID(x.Name) })
			volChanged = true
			if _, err := tx.Delete(api.KindConsumer, x.Name); err != nil {
				return err
			}
			gone = append(gone, x.Name)
		}
		for i := range cons {
			x := &cons[i]
			if x.Status.State != api.ConsumerPending || slices.Contains(gone, x.Name) {
				continue
			}
			if c.admitPending(&v, x) {
				volChanged = true
			}
			if err := tx.Put(api.KindConsumer, x.Name, *x); err != nil {
				return err
			}
		}
		if volChanged {
			return tx.Put(api.KindVolume, v.Name, v)
		}
		return nil
	})
	if err == nil && next > 0 {
		c.queue.AddAfter(consumersKeyPrefix+volume, next)
	}
	return err
}

// nextConsumerName returns the first free "<workload>-<generation>" name
// from generation gen on.
func nextConsumerName(tx *Tx, workload string, gen int) (int, string, error) {
	for ; ; gen++ {
		name := fmt.Sprintf("%s-%d", workload, gen)
		_, ok, err := get[api.Consumer](tx, api.KindConsumer, name)
		if err != nil || !ok {
			return gen, name, err
		}
	}
}

// startConsumerDeletion marks x terminating: its grace period from now, or
// none when force (deleted with grace 0).
func startConsumerDeletion(x *api.Consumer, now time.Time, force bool) {
	if x.Status.State == api.ConsumerTerminating {
		if force && x.Status.DeletionDeadline.After(now) {
			x.Status.DeletionDeadline = now
		}
		return
	}
	x.Status.State = api.ConsumerTerminating
	x.Status.DeletionRequestedAt = now
	x.Status.DeletionDeadline = now.Add(x.Grace())
	if force {
		x.Status.DeletionDeadline = now
	}
}

// admitPending attaches a detached volume to a pending consumer's node and
// reports the consumer running once the volume serves there. It returns
// whether it changed v.
func (c *Controller) admitPending(v *api.Volume, x *api.Consumer) bool {
	if _, ok := v.Spec.AttachmentTickets[api.ConsumerTicketID(x.Name)]; !ok {
		x.Status.Message = "its attachment ticket is gone"
		return false
	}
	switch {
	case v.Spec.NodeID == "" && v.Status.State == api.VolumeDetached && !v.Status.RestoreRequired:
		v.Spec.NodeID = x.Spec.Node
		v.Status.State = api.VolumeAttaching
		x.Status.Message = "attaching the volume"
		return true
	case v.Spec.NodeID != "" && v.Spec.NodeID != x.Spec.Node:
		x.Status.Message = fmt.Sprintf("Multi-Attach: volume %q is attached to node %q", v.Name, v.Spec.NodeID)
	case v.Spec.NodeID == x.Spec.Node && v.Status.State == api.VolumeAttached && v.Status.Endpoint != "" && !v.Spec.DisableFrontend:
		x.Status.State = api.ConsumerRunning
		x.Status.Endpoint = v.Status.Endpoint
		x.Status.StartedAt = time.Now()
		x.Status.Message = ""
	default:
		x.Status.Message = fmt.Sprintf("waiting for volume %q (%s)", v.Name, v.Status.State)
	}
	return false
}

// cleanupForceDeletedConsumer is the cleanup for a consumer deleted with
// grace 0 (Longhorn's cleanupForceDeletedPodResources): a consumer pending
// on another node must not wait for the force-deleted one's attachment.
// The fix (longhorn-manager 50958ebe8) takes only the deleted consumer's
// own ticket, only while the volume is attached to its node, and only when
// another consumer of the volume is pending on another node.
func (c *Controller) cleanupForceDeletedConsumer(v *api.Volume, x api.Consumer, cons []api.Consumer) {
	if c.m.usesDefect(DefectUpgradeCrashLosesAttachment) {
		removed := removeTickets(v, func(t api.AttachmentTicket) bool { return t.Node == x.Spec.Node })
		c.log.Error("DEFECT upgrade-crash-loses-attachment: cleanup of a force-deleted consumer deletes every attachment ticket of its volume on its node",
			"consumer", x.Name, "volume", v.Name, "node", x.Spec.Node, "tickets", removed, "volumeNode", v.Spec.NodeID)
		return
	}
	if v.Status.State != api.VolumeAttached || v.Spec.NodeID != x.Spec.Node {
		return
	}
	elsewhere := slices.ContainsFunc(cons, func(y api.Consumer) bool {
		return y.Name != x.Name && y.Status.State == api.ConsumerPending && y.Spec.Node != x.Spec.Node
	})
	if !elsewhere {
		return
	}
	removeTickets(v, func(t api.AttachmentTicket) bool { return t.ID == api.ConsumerTicketID(x.Name) })
	c.log.Info("force-deleted consumer's ticket released for a consumer pending on another node", "consumer", x.Name, "volume", v.Name)
}
