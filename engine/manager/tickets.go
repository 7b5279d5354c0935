package manager

import (
	"fmt"
	"slices"

	"github.com/faultline/faultline/engine/api"
)

// addTicket records t on v. It does not attach v: the attach API sets the
// node itself, and the consumer controller attaches a detached volume for
// a pending consumer.
func addTicket(v *api.Volume, t api.AttachmentTicket) {
	if v.Spec.AttachmentTickets == nil {
		v.Spec.AttachmentTickets = map[string]api.AttachmentTicket{}
	}
	v.Spec.AttachmentTickets[t.ID] = t
}

// removeTickets deletes the tickets drop selects and returns their IDs.
// When that leaves no ticket on the node the volume is attached to, the
// volume is detached: nothing holds it there any more. A volume attached
// without tickets (a system backup's maintenance attach, a restore) is not
// touched.
func removeTickets(v *api.Volume, drop func(api.AttachmentTicket) bool) []string {
	var removed []string
	for id, t := range v.Spec.AttachmentTickets {
		if drop(t) {
			delete(v.Spec.AttachmentTickets, id)
			removed = append(removed, id)
		}
	}
	slices.Sort(removed)
	if len(removed) > 0 && v.Spec.NodeID != "" && !v.Spec.DisableFrontend && len(ticketsOn(v, v.Spec.NodeID)) == 0 {
		v.Spec.NodeID = ""
		if v.Status.State == api.VolumeAttached || v.Status.State == api.VolumeAttaching {
			v.Status.State = api.VolumeDetaching
		}
	}
	return removed
}

// ticketsOn returns the IDs of v's tickets on node, sorted.
func ticketsOn(v *api.Volume, node string) []string {
	var ids []string
	for id, t := range v.Spec.AttachmentTickets {
		if t.Node == node {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// consumerTickets returns the IDs of v's consumer tickets, sorted.
func consumerTickets(v *api.Volume) []string {
	var ids []string
	for id, t := range v.Spec.AttachmentTickets {
		if t.Type == api.TicketConsumer {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// attachedBy says who holds v attached, one phrase each, sorted: its
// attachment tickets (the attach API, consumers) and, for a volume attached
// with its frontend but without a ticket, its node. A volume the system
// attaches without a frontend (a restore, a standby volume, a system
// backup) serves no client and is not counted.
func attachedBy(v *api.Volume) []string {
	var by []string
	for _, t := range v.Spec.AttachmentTickets {
		switch t.Type {
		case api.TicketConsumer:
			by = append(by, fmt.Sprintf("consumer %q on node %q", t.Consumer, t.Node))
		case api.TicketAPI:
			by = append(by, fmt.Sprintf("to node %q by the attach API", t.Node))
		default:
			by = append(by, fmt.Sprintf("ticket %q on node %q", t.ID, t.Node))
		}
	}
	if len(by) == 0 && v.Spec.NodeID != "" && !v.Spec.DisableFrontend && !v.Status.RestoreRequired && !v.Status.IsStandby &&
		(v.Status.State == api.VolumeAttached || v.Status.State == api.VolumeAttaching) {
		by = append(by, fmt.Sprintf("to node %q", v.Spec.NodeID))
	}
	slices.Sort(by)
	return by
}
