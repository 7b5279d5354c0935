package kind

import (
	"errors"
	"strings"
	"testing"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/faults"
)

var _ faults.Partitioner = (*Driver)(nil)

// TestPartitionScripts checks which container gets which rules; no kind
// cluster runs here, so the scripts themselves are not applied.
func TestPartitionScripts(t *testing.T) {
	d := &Driver{cfg: Config{Name: "fl-test"}, nodes: []cluster.Node{
		{Name: "fl-test-worker", Address: "172.18.0.3"},
		{Name: "fl-test-worker2", Address: "172.18.0.4"},
	}}
	const (
		w1to2 = "ip saddr 172.18.0.3 ip daddr 172.18.0.4 tcp dport { 5260, 10809 } counter drop"
		w2to1 = "ip saddr 172.18.0.4 ip daddr 172.18.0.3 tcp dport { 5260, 10809 } counter drop"
	)
	tests := []struct {
		name   string
		p      cluster.Partition
		inject bool
		want   map[string][]string // container → substrings of its script
	}{
		{"both ways", cluster.Partition{A: "fl-test-worker", B: "fl-test-worker2"}, true, map[string][]string{
			"fl-test-worker2": {"add table ip faultline_fl_test\n", "chain ip faultline_fl_test p_fl_test_worker_fl_test_worker2_both", w1to2},
			"fl-test-worker":  {w2to1},
		}},
		{"one way", cluster.Partition{A: "fl-test-worker2", B: "fl-test-worker", Direction: cluster.AToB}, true, map[string][]string{
			"fl-test-worker": {w2to1, "p_fl_test_worker2_fl_test_worker_a_to_b"},
		}},
		{"heal", cluster.Partition{A: "fl-test-worker", B: "fl-test-worker2"}, false, map[string][]string{
			"fl-test-worker2": {"delete chain ip faultline_fl_test p_fl_test_worker_fl_test_worker2_both"},
			"fl-test-worker":  {"delete chain ip faultline_fl_test p_fl_test_worker_fl_test_worker2_both"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scripts, err := d.partitionScripts(tt.p, tt.inject)
			if err != nil {
				t.Fatal(err)
			}
			if len(scripts) != len(tt.want) {
				t.Fatalf("%d scripts, want %d: %+v", len(scripts), len(tt.want), scripts)
			}
			for _, s := range scripts {
				subs, ok := tt.want[s.container]
				if !ok {
					t.Errorf("script for unexpected container %s:\n%s", s.container, s.script)
				}
				for _, sub := range subs {
					if !strings.Contains(s.script, sub) {
						t.Errorf("container %s script lacks %q:\n%s", s.container, sub, s.script)
					}
				}
				if !tt.inject && strings.Contains(s.script, "add rule") {
					t.Errorf("heal script adds rules:\n%s", s.script)
				}
			}
		})
	}
	if got := nodeNft("fl-test-worker"); strings.Join(got, " ") != "docker exec -i fl-test-worker nft" {
		t.Errorf("nodeNft = %q", got)
	}
	if _, err := d.partitionScripts(cluster.Partition{A: "fl-test-worker", B: cluster.ManagerEndpoint}, true); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("manager partition on kind: %v, want ErrUnsupported", err)
	}
	if _, err := d.partitionScripts(cluster.Partition{A: "fl-test-worker", B: "nope"}, true); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("unknown node: %v, want ErrUnknownNode", err)
	}
}

// TestChaosSides: a NetworkChaos partition aims at a node's instance
// manager by node, at the manager by its label alone, and refuses a node
// the cluster does not have.
func TestChaosSides(t *testing.T) {
	d := &Driver{cfg: Config{Name: "fl-test"}, nodes: []cluster.Node{{Name: "fl-test-worker", Address: "172.18.0.3"}}}
	node, err := d.chaosSide("fl-test-worker")
	if err != nil || node.Node != "fl-test-worker" || node.Labels["app"] != "refengine-node" || node.Namespace != Namespace {
		t.Errorf("node side %+v, %v", node, err)
	}
	mgr, err := d.chaosSide(cluster.ManagerEndpoint)
	if err != nil || mgr.Node != "" || mgr.Labels["app"] != "refengine-manager" {
		t.Errorf("manager side %+v, %v", mgr, err)
	}
	if _, err := d.chaosSide("fl-test-worker9"); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("unknown node: %v", err)
	}
}
