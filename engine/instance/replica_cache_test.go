package instance

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNewCacheDraw checks which reconstructions the seed-003 switches make
// trust their stale chain: none without a switch, all with the
// deterministic one, and those whose draw falls under the chance with the
// intermittent one. The cached chain never holds the head.
func TestNewCacheDraw(t *testing.T) {
	chain := []string{"bi-img-disk-u", "v-r-abcdefgh-snap-s1", "v-r-abcdefgh"}
	tests := []struct {
		name   string
		defect string
		draw   float64
		stale  bool
	}{
		{"clean", "", 0, false},
		{"deterministic", DefectStaleHeadCache, 0.99, true},
		{"intermittent fires", DefectStaleHeadCacheIntermittent, staleHeadCacheChance - 0.01, true},
		{"intermittent misses", DefectStaleHeadCacheIntermittent, staleHeadCacheChance, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{defects: map[string]bool{tc.defect: tc.defect != ""}, chance: func() float64 { return tc.draw }}
			c := m.newCache(chain)
			if c.stale != tc.stale {
				t.Errorf("stale = %v, want %v", c.stale, tc.stale)
			}
			if d := cmp.Diff(chain[:2], c.chain); d != "" {
				t.Errorf("cached chain (-want +got):\n%s", d)
			}
			if c.tail() != "v-r-abcdefgh-snap-s1" {
				t.Errorf("tail = %q", c.tail())
			}
		})
	}
	var none *replicaCache
	if none.tail() != "" {
		t.Error("nil cache has a tail")
	}
}
