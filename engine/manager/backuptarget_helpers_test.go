package manager

import (
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// waitTargetSynced waits until a target's first availability check is
// recorded and returns the target.
func waitTargetSynced(t testing.TB, tm *testManager, name string) api.BackupTarget {
	t.Helper()
	return waitTarget(t, tm, name+" checked once", name, func(bt api.BackupTarget) bool {
		return !bt.Status.LastSyncedAt.IsZero()
	})
}

// waitTarget waits (with waitFor's deadline) until cond holds for the
// target and returns it.
func waitTarget(t testing.TB, tm *testManager, what, name string, cond func(api.BackupTarget) bool) api.BackupTarget {
	t.Helper()
	var bt api.BackupTarget
	waitFor(t, what, func() (bool, error) {
		var err error
		bt, err = tm.c.GetBackupTarget(ctxT(t), name)
		return err == nil && cond(bt), err
	})
	return bt
}
