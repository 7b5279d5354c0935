package kind

import (
	"testing"

	"github.com/faultline/faultline/faults"
)

// The kind driver does every driver-specific fault.
var (
	_ faults.EngineKiller  = (*Driver)(nil)
	_ faults.NodePauser    = (*Driver)(nil)
	_ faults.ManagerKiller = (*Driver)(nil)
)

// The manager's pod is deleted without a grace period, so it dies as
// abruptly as Kubernetes allows.
func TestKillManagerOptions(t *testing.T) {
	opts := killManagerOptions()
	if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 0 {
		t.Fatalf("grace period %v, want 0", opts.GracePeriodSeconds)
	}
	if opts.Preconditions != nil {
		t.Fatalf("preconditions %+v: deletePod sets the pod's UID", opts.Preconditions)
	}
}
