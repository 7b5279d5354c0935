package manager

import (
	"fmt"

	"github.com/faultline/faultline/engine/api"
)

// upgradeCrash is how a volume whose engine died in the middle of a live
// upgrade (spec.engineImage differs from status.currentImage) comes back.
type upgradeCrash struct {
	from, to string
	// keep are the replicas that were serving reads and writes (RW) when
	// the engine died: they hold every acknowledged write, so the reattach
	// starts from them.
	keep []string
	// discard re-introduces the defect cleanup-discards-replicas:
	// cleanup deletes every replica with its data, so the volume is
	// rebuilt from fresh, empty replicas.
	discard bool
}

// planUpgradeCrash decides what an engine death during a live upgrade does
// to the volume's replicas. The correct recovery keeps the replicas with
// the newest data and finishes the upgrade offline: the reattach runs the
// engine on spec.engineImage. It is the only place the defect switch
// cleanup-discards-replicas is consulted.
func (c *Controller) planUpgradeCrash(vv *volumeView) upgradeCrash {
	p := upgradeCrash{from: vv.vol.Status.CurrentImage, to: vv.vol.Spec.EngineImage}
	for _, r := range activeReplicas(vv.replicas) {
		if r.Status.Mode != api.ModeWO {
			p.keep = append(p.keep, r.Name)
		}
	}
	if c.m.usesDefect(DefectCleanupDiscardsReplicas) {
		p.discard = true
		c.log.Error("DEFECT cleanup-discards-replicas: engine died mid live-upgrade; cleanup deletes every replica with its data, the volume comes back on fresh empty replicas",
			"volume", vv.vol.Name, "from", p.from, "to", p.to, "discarded", p.keep)
		return p
	}
	c.log.Warn("engine died mid live-upgrade: reattaching from the replicas with the newest data, upgrade finishes offline",
		"volume", vv.vol.Name, "from", p.from, "to", p.to, "kept", p.keep)
	return p
}

// String says what the recovery does, for the volume's Ready condition.
func (p upgradeCrash) String() string {
	if p.discard {
		return fmt.Sprintf("engine died during live upgrade %s → %s: replicas discarded, volume recreated empty on %s", p.from, p.to, p.to)
	}
	return fmt.Sprintf("engine died during live upgrade %s → %s: recovering from %d replica(s) with the newest data, upgrade finishes offline on %s", p.from, p.to, len(p.keep), p.to)
}
