package kind

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/cluster/kind/chaosmesh"
	"github.com/faultline/faultline/faults"
)

// The kind driver does every driver-specific fault.
var (
	_ faults.EngineKiller  = (*Driver)(nil)
	_ faults.NodePauser    = (*Driver)(nil)
	_ faults.ManagerKiller = (*Driver)(nil)
)

// The manager's pod is killed without a grace period, so it dies as
// abruptly as Kubernetes allows, and the object passes Chaos Mesh's checks.
func TestKillManagerChaos(t *testing.T) {
	pc, err := chaosmesh.Validated(killManagerChaos("faultline-pod-kill-manager-1"))
	if err != nil {
		t.Fatal(err)
	}
	if pc.Spec.Action != "pod-kill" || pc.Spec.GracePeriod != 0 || pc.Spec.Mode != "one" ||
		pc.Spec.Selector.LabelSelectors["app"] != "refengine-manager" || len(pc.Spec.Selector.Nodes) != 0 {
		t.Fatalf("spec %+v", pc.Spec)
	}
}

// TestChaosName: fault objects are named after their action and target
// without the cluster's prefix, unique and valid Kubernetes names.
func TestChaosName(t *testing.T) {
	d := &Driver{cfg: Config{Name: "faultline"}}
	a := d.chaosName("partition", "faultline-worker-faultline-worker2")
	b := d.chaosName("partition", "faultline-worker-faultline-worker2")
	long := d.chaosName("pod-kill", strings.Repeat("x", 80))
	if !strings.HasPrefix(a, "faultline-partition-worker-worker2-") || a == b || len(long) > 63 || strings.HasSuffix(long, "-") {
		t.Errorf("names %q %q %q", a, b, long)
	}
}
