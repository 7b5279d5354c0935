package scenarios

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// volumeDeleteLimit is how long a volume may take to go once deleted. A
// healthy cluster removes one in well under a second; the bound covers a
// node that restarted in the spec and a reconcile that waits out one call
// to it. A volume that is still there after it is one the system cannot
// delete, which users see as a stuck PVC.
const volumeDeleteLimit = 90 * time.Second

// deleteVolumeOnCleanup deletes the volume when the spec ends and
// waits until it is gone: a failed spec must not leave its volume behind,
// and a volume that cannot be deleted fails the spec with what still
// holds it (its engine, its replicas and their nodes), which the report
// shows beside the manager's log.
func deleteVolumeOnCleanup(s *Spec, name string) {
	c := s.Client()
	DeferCleanup(func(ctx SpecContext) {
		if _, err := c.GetVolume(ctx, name); api.IsNotFound(err) {
			return
		}
		c.DetachVolume(ctx, name)
		c.ForceDeleteVolume(ctx, name) // consumers may still hold it
		wctx, cancel := context.WithTimeout(ctx, volumeDeleteLimit)
		defer cancel()
		last, err := c.WaitVolume(wctx, name, func(v api.Volume) bool { return v.Name == "" })
		if err == nil || ctx.Err() != nil {
			return
		}
		Fail(fmt.Sprintf("volume %s was not gone %v after it was deleted (state %s): %s",
			name, volumeDeleteLimit, last.Status.State, volumeHolders(ctx, c, name)))
	}, NodeTimeout(volumeDeleteLimit+30*time.Second))
}

// volumeHolders describes what the manager still records for a volume:
// its engines and replicas with their nodes and states, and those nodes'
// states, so a stuck deletion says where it is stuck.
func volumeHolders(ctx context.Context, c *client.Client, volume string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var parts []string
	nodes := map[string]bool{}
	if engines, err := c.ListEngines(ctx, volume); err != nil {
		parts = append(parts, "engines: "+err.Error())
	} else {
		for _, e := range engines {
			parts = append(parts, fmt.Sprintf("engine %s on %s %s", e.Name, e.Spec.Node, e.Status.State))
			nodes[e.Spec.Node] = true
		}
	}
	if replicas, err := c.ListReplicas(ctx, volume); err != nil {
		parts = append(parts, "replicas: "+err.Error())
	} else {
		for _, r := range replicas {
			p := fmt.Sprintf("replica %s on %s %s", r.Name, r.Spec.Node, r.Status.State)
			if r.Spec.Deleting {
				p += " (deleting)"
			}
			parts = append(parts, p)
			nodes[r.Spec.Node] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		if node, err := c.GetNode(ctx, n); err == nil {
			parts = append(parts, fmt.Sprintf("node %s %s at %s", n, node.Status.State, node.Spec.RPCAddress))
		}
	}
	if len(parts) == 0 {
		return "no engine or replica recorded"
	}
	return strings.Join(parts, "; ")
}
