package local

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/timeline"
)

// ArmUpgradeCrash starts watching engine's processes on node for its live
// upgrade window (see engineproc.AwaitUpgradeWindow) and returns at once;
// wait blocks until the watch killed the engine process serving the volume:
// the old one inside the window, else, after window, the only one.
func (d *Driver) ArmUpgradeCrash(ctx context.Context, engine, node string, window time.Duration) (wait func() (cluster.EngineKill, error), err error) {
	p, err := d.node(node)
	if err != nil {
		return nil, err
	}
	pgid, running, _, _, _ := p.snapshot()
	if !running {
		return nil, fmt.Errorf("arm upgrade crash of %s: node %s is not running", engine, node)
	}
	type result struct {
		k   cluster.EngineKill
		err error
	}
	done := make(chan result, 1)
	armed := time.Now()
	go func() {
		wctx, cancel := context.WithTimeout(ctx, window)
		pid, in, err := engineproc.AwaitUpgradeWindow(wctx, engine, func(pid int) bool {
			g, ok := pgidOf(pid)
			return ok && g == pgid && pid != pgid
		})
		cancel()
		k := cluster.EngineKill{PID: pid, InWindow: in, Waited: time.Since(armed), Executor: "supervisor", At: time.Now()}
		if err == nil {
			err = syscall.Kill(pid, syscall.SIGKILL)
		}
		if err == nil {
			err = waitGone(ctx, pid)
		}
		if err != nil {
			done <- result{k, fmt.Errorf("crash engine %s during its upgrade: %w", engine, err)}
			return
		}
		what := "engine " + engine + " killed in its upgrade window"
		if !in {
			what = "engine " + engine + " killed (no upgrade window seen)"
		}
		d.rec.Add(timeline.Event{Kind: timeline.KindLog, Lane: node, Name: what, Detail: map[string]string{"pid": strconv.Itoa(pid)}})
		done <- result{k, nil}
	}()
	return func() (cluster.EngineKill, error) {
		r := <-done
		return r.k, r.err
	}, nil
}

// ArmUpgradeCrash asks the supervisor to watch and kill (Driver.ArmUpgradeCrash).
// The request is on its way when it returns; the supervisor watches from
// the moment it reads it, a fraction of the time a node needs to start an
// engine process.
func (r *Remote) ArmUpgradeCrash(ctx context.Context, engine, node string, window time.Duration) (func() (cluster.EngineKill, error), error) {
	type result struct {
		k   cluster.EngineKill
		err error
	}
	done := make(chan result, 1)
	path := "/engines/" + url.PathEscape(engine) + "/kill-during-upgrade?node=" + url.QueryEscape(node) + "&window=" + url.QueryEscape(window.String())
	go func() {
		var k cluster.EngineKill
		err := r.call(ctx, http.MethodPost, path, &k)
		done <- result{k, err}
	}()
	return func() (cluster.EngineKill, error) {
		res := <-done
		return res.k, res.err
	}, nil
}

// serveUpgradeCrash is the control route behind Remote.ArmUpgradeCrash.
func serveUpgradeCrash(d *Driver, w http.ResponseWriter, r *http.Request) {
	window, err := time.ParseDuration(r.URL.Query().Get("window"))
	if err != nil || window <= 0 {
		reply(w, nil, fmt.Errorf("window %q: want a positive duration", r.URL.Query().Get("window")))
		return
	}
	wait, err := d.ArmUpgradeCrash(r.Context(), r.PathValue("name"), r.URL.Query().Get("node"), window)
	if err != nil {
		reply(w, nil, err)
		return
	}
	k, err := wait()
	reply(w, k, err)
}
