package kind

import (
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
