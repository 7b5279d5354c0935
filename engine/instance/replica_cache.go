package instance

import (
	"context"
	"slices"

	"github.com/faultline/faultline/engine/improto"
)

// DefectStaleHeadCacheIntermittent is DefectStaleHeadCache firing on
// about one reconstruction in ten (staleHeadCacheChance), drawn anew at
// every one: the real bug struck "in some cases", and a scenario's
// detection rate against it is what this switch measures.
const DefectStaleHeadCacheIntermittent = "im-restart-stale-head-cache-intermittent"

// staleHeadCacheChance is the probability that one reconstruction trusts
// its stale chain under DefectStaleHeadCacheIntermittent.
const staleHeadCacheChance = 0.1

// replicaCache is what the instance manager read about a replica from its
// lvstore when it last reconstructed it: at node start, or when a replica
// that was not running is started again. Only the defect switches of seed
// bug 003 decide anything from it; the clean path asks the lvstore.
type replicaCache struct {
	// chain is the replica's chain without its head, base first: what
	// Longhorn's cached ActiveChain held when the bug struck.
	chain []string
	// stale says headOnDisk trusts chain for this reconstruction (and so
	// finds no head); drawn once per reconstruction and kept until the
	// replica starts, so a stale replica fails every retry as the real
	// one did.
	stale bool
}

// tail is the newest lvol of the cached chain below the head, "" when
// there is none.
func (c *replicaCache) tail() string {
	if c == nil || len(c.chain) == 0 {
		return ""
	}
	return c.chain[len(c.chain)-1]
}

// newCache records a chain read from disk (head last) and draws whether
// the defect trusts it.
func (m *Manager) newCache(chain []string) *replicaCache {
	c := &replicaCache{chain: slices.Clone(chain[:len(chain)-1])}
	switch {
	case m.defect(DefectStaleHeadCache):
		c.stale = true
	case m.defect(DefectStaleHeadCacheIntermittent):
		c.stale = m.chance() < staleHeadCacheChance
	}
	return c
}

// reconstruct finds the replicas on disk after a (re)start: heads by name,
// chains by walking parents. They stay stopped (not exported) until the
// manager asks for them again.
func (m *Manager) reconstruct(ctx context.Context) error {
	lvols, err := listLvols(ctx, m.t)
	if err != nil {
		return err
	}
	stores, err := listStores(ctx, m.t)
	if err != nil {
		return err
	}
	byUUID := map[string]lvstoreInfo{}
	for _, s := range stores {
		byUUID[s.UUID] = s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, lv := range lvols {
		name := lv.lvolName()
		sub := headPattern.FindStringSubmatch(name)
		if sub == nil || lv.Driver.Lvol.Snapshot {
			continue
		}
		s := byUUID[lv.Driver.Lvol.StoreUUID]
		info, err := m.describe(ctx, s, lv)
		if err != nil {
			m.log.Warn("replica on disk not readable", "replica", name, "err", err)
			continue
		}
		info.Volume = sub[1]
		info.State = improto.StateStopped
		info.Address, info.Export = "", ""
		m.replicas[name] = &replica{info: info, cache: m.newCache(info.Chain)}
		m.log.Info("replica found on disk", "replica", name, "chain", info.Chain, "revision", info.Revision)
	}
	return nil
}

// reconstructStopped rebuilds the cache of a known replica that is not
// running before it starts again, as reconstruct does for every replica at
// node start: the replica was stopped (after a failure or a detach), or it
// crashed (its export is gone while the node still counts it running). A
// replica started since its last reconstruction has no cache; one whose
// start failed keeps the cache it failed with. It returns the cache to
// start from, nil when there is none (unknown replica, head not on disk).
func (m *Manager) reconstructStopped(ctx context.Context, s lvstoreInfo, name string) *replicaCache {
	m.mu.Lock()
	r, ok := m.replicas[name]
	var cache *replicaCache
	running := false
	if ok {
		cache, running = r.cache, r.info.State == improto.StateRunning
	}
	m.mu.Unlock()
	if !ok || cache != nil || (running && m.exported(name)) {
		return cache
	}
	head, found, err := getLvol(ctx, m.t, s.Name, name)
	if err != nil || !found {
		m.log.Warn("replica to restart not readable on disk", "replica", name, "found", found, "err", err)
		return nil
	}
	info, err := m.describe(ctx, s, head)
	if err != nil {
		m.log.Warn("replica to restart not readable on disk", "replica", name, "err", err)
		return nil
	}
	cache = m.newCache(info.Chain)
	m.mu.Lock()
	if m.replicas[name] == r {
		r.cache = cache
	}
	m.mu.Unlock()
	m.log.Info("replica reconstructed for restart", "replica", name, "chain", info.Chain, "crashed", running)
	return cache
}

// headOnDisk asks the lvstore whether the replica's head exists. With the
// defects of seed bug 003 a stale cache is trusted instead, which lacks the
// head, and so it answers "no" for a head that is there.
func (m *Manager) headOnDisk(ctx context.Context, s lvstoreInfo, name string, cache *replicaCache) (lvolInfo, bool, error) {
	if cache != nil && cache.stale {
		m.log.Error("DEFECT im-restart-stale-head-cache: trusting the cached chain, which has no head", "replica", name, "cached_chain", cache.chain)
		return lvolInfo{}, false, nil
	}
	return getLvol(ctx, m.t, s.Name, name)
}
