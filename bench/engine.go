package bench

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/engine/raid1"
)

// The engine-process targets measure what volumes really run on: a
// `refengine engine` process (raid1 over NBD connections to replica
// exports, served on a Unix socket), once with every replica's write-intent
// bitmap and once without, so that the bitmap's cost shows as the ratio of
// the two in one run.

// engineReplica is one replica an engine process assembles.
type engineReplica struct {
	name, addr, export, bitmap string
}

func (r engineReplica) flag() string {
	f := r.name + "," + r.addr + "," + r.export
	if r.bitmap != "" {
		f += "," + r.bitmap
	}
	return f
}

// makeReplica creates an lvol of size bytes on n (thin, or thick) and
// exports it; with bitmap it also creates, formats and exports the
// replica's write-intent bitmap as a refengine node does.
func (e *env) makeReplica(ctx context.Context, n *node, name string, size int64, bitmap, thick bool) (engineReplica, error) {
	lvol, err := n.createLvolThin(ctx, name, size, !thick)
	if err != nil {
		return engineReplica{}, err
	}
	if _, err := n.export(ctx, lvol, name); err != nil {
		return engineReplica{}, err
	}
	r := engineReplica{name: name, addr: n.nbdAddr, export: name}
	if !bitmap {
		return r, nil
	}
	r.bitmap = name + "-bitmap"
	var uuid string
	err = n.call(ctx, "bdev_lvol_create", map[string]any{
		"lvs_name": n.lvs, "lvol_name": r.bitmap,
		"size_in_mib": (raid1.IntentDeviceSize(size) + 1<<20 - 1) >> 20, "thin_provision": false,
	}, &uuid)
	if err != nil {
		return engineReplica{}, err
	}
	if _, err := n.export(ctx, uuid, r.bitmap); err != nil {
		return engineReplica{}, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := nbd.Dial(dctx, "tcp", n.nbdAddr, r.bitmap)
	if err != nil {
		return engineReplica{}, fmt.Errorf("open bitmap %s: %w", r.bitmap, err)
	}
	defer c.Close()
	if err := raid1.FormatIntent(c, size, false); err != nil {
		return engineReplica{}, err
	}
	return r, nil
}

// engineProc is a running `refengine engine` process.
type engineProc struct {
	proc       *process
	ctl        *jsonrpc.Client
	sock, name string
}

// startEngine runs an engine process over reps and waits until it is
// ready (after its resync, if any).
func (e *env) startEngine(ctx context.Context, name string, size int64, reps []engineReplica) (*engineProc, error) {
	dir := filepath.Join(e.dir, "engines")
	if err := mkdir(dir); err != nil {
		return nil, err
	}
	e.seq++
	id := name + "-" + strconv.Itoa(e.seq)
	ep := &engineProc{name: name, sock: filepath.Join(dir, id+".nbd")}
	ctlPath := filepath.Join(dir, id+".ctl")
	args := []string{"engine", "--name", name, "--size", strconv.FormatInt(size, 10),
		"--control-socket", ctlPath, "--nbd-socket", ep.sock, "--defects", ""}
	for _, r := range reps {
		args = append(args, "--replica", r.flag())
	}
	var err error
	ep.proc, err = startProcess("refengine engine "+id, filepath.Join(dir, id+".log"), e.cfg.Refengine, args...)
	if err != nil {
		return nil, err
	}
	e.defer_(ep.stop)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := ep.proc.waitReady(rctx, "its control socket", dialable("unix", ctlPath)); err != nil {
		return nil, err
	}
	if ep.ctl, err = jsonrpc.Dial(rctx, "unix", ctlPath); err != nil {
		return nil, fmt.Errorf("engine %s: %w", id, err)
	}
	err = ep.proc.waitReady(rctx, "ready", func(ctx context.Context) error {
		info, err := ep.info(ctx)
		if err == nil && info.State != engineproc.StateReady {
			err = fmt.Errorf("state %s (%d of %d regions)", info.State, info.Progress.Done, info.Progress.Total)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return ep, nil
}

func (ep *engineProc) info(ctx context.Context) (engineproc.Info, error) {
	var info engineproc.Info
	err := ep.ctl.Call(ctx, engineproc.MethodGet, nil, &info)
	return info, err
}

// uri is the fio (libnbd) URI of the engine's export.
func (ep *engineProc) uri() string {
	return "nbd+unix:///" + engineproc.ExportName + "?socket=" + url.QueryEscape(ep.sock)
}

func (ep *engineProc) stop() {
	if ep.ctl != nil {
		ep.ctl.Close()
	}
	ep.proc.stop()
}

// kill ends the engine at once, as a crash does.
func (ep *engineProc) kill() {
	if ep.ctl != nil {
		ep.ctl.Close()
	}
	ep.proc.cmd.Process.Kill()
	<-ep.proc.exited
}

// startEngineRaid returns a target served by an engine process over a
// replica on node-a and one on node-b, with or without bitmaps.
func startEngineRaid(bitmap bool) func(context.Context, *env) (string, error) {
	return func(ctx context.Context, e *env) (string, error) {
		name := "engine-x2"
		if !bitmap {
			name += "-nobitmap"
		}
		var reps []engineReplica
		for i := range 2 {
			n, err := e.node(ctx, nodeName(i))
			if err != nil {
				return "", err
			}
			r, err := e.makeReplica(ctx, n, fmt.Sprintf("%s-r%d", name, i), e.cfg.Size, bitmap, false)
			if err != nil {
				return "", err
			}
			reps = append(reps, r)
		}
		ep, err := e.startEngine(ctx, name, e.cfg.Size, reps)
		if err != nil {
			return "", err
		}
		return ep.uri(), nil
	}
}
