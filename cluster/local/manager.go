package local

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/faultline/faultline/timeline"
)

// KillManager SIGKILLs the manager (`refengine manager`), so nothing it was
// doing gets to finish, the way a deleted pod's process dies; the
// supervisor starts a new one at once, without the crash backoff, on the
// same data directory and address. It returns once the old process is
// gone, not when the new one answers.
func (d *Driver) KillManager(ctx context.Context) error {
	d.mu.Lock()
	up, mgr := d.up, d.mgr
	d.mu.Unlock()
	if !up || mgr == nil {
		return errors.New("kill manager: local cluster is not up")
	}
	pid, _, _, _, _ := mgr.snapshot()
	if err := mgr.kill(ctx); err != nil {
		return fmt.Errorf("kill manager: %w", err)
	}
	executed(ctx, "supervisor")
	d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: "manager", Name: "manager killed",
		Detail: map[string]string{"pid": strconv.Itoa(pid)}})
	return nil
}
