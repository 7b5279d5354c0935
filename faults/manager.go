package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/client"
)

// ErrManagerRestartUnsupported is returned by ManagerRestart's Inject when
// the cluster driver cannot kill the manager.
var ErrManagerRestartUnsupported = errors.New("manager restart: this cluster driver cannot kill the manager")

// ManagerKiller kills the control plane (`refengine manager`) abruptly and
// lets whatever supervises it start a new one on the same state and
// address: the local cluster's supervisor, kind's Deployment. KillManager
// returns once the old process is gone.
type ManagerKiller interface {
	KillManager(ctx context.Context) error
}

// ManagerRestart kills the manager in the middle of whatever it is doing;
// its supervisor starts it again. Inject returns once the old manager is
// gone, Heal once the new one answers the API, so the fault's window on the
// timeline covers the downtime. When d is not a ManagerKiller, Inject fails
// with ErrManagerRestartUnsupported. Heal after a failed Inject only waits
// for a manager that answers, which is harmless.
func ManagerRestart(d cluster.Driver) Fault {
	k, _ := d.(ManagerKiller)
	return &managerRestart{d: d, k: k}
}

type managerRestart struct {
	d cluster.Driver
	k ManagerKiller
}

func (f *managerRestart) Name() string { return "manager-restart" }
func (f *managerRestart) Params() map[string]string {
	return map[string]string{"url": f.d.ManagerURL()}
}

func (f *managerRestart) Inject(ctx context.Context) error {
	if f.k == nil {
		return ErrManagerRestartUnsupported
	}
	if err := f.k.KillManager(ctx); err != nil {
		return fmt.Errorf("manager restart: %w", err)
	}
	return nil
}

func (f *managerRestart) Heal(ctx context.Context) error {
	return WaitManager(ctx, f.d.ManagerURL())
}

// WaitManager polls the manager's API at url (GET /v1/version, each try
// bounded to 2 s) until it answers or ctx ends.
func WaitManager(ctx context.Context, url string) error {
	c, err := client.New(url, nil)
	if err != nil {
		return err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Version(tctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("manager at %s does not answer: %w (last: %v)", url, ctx.Err(), err)
		case <-tick.C:
		}
	}
}
