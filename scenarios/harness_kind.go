package scenarios

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/kind"
)

// startKind creates (or reuses) the kind cluster and deploys refengine on it.
func (e *Env) startKind(ctx context.Context) (cluster.Driver, error) {
	kc := e.cfg.Kind
	kc.Defects = e.cfg.Defects
	kc.DiskSize = e.cfg.DiskSize
	kc.DisksPerNode = e.cfg.DisksPerNode
	kc.RestoreRateLimit = e.cfg.restoreRateLimit()
	kc.Keep = e.cfg.KeepCluster
	if e.cfg.OutDir != "" {
		kc.LogDir = filepath.Join(e.cfg.OutDir, "cluster", "logs")
	}
	if e.cfg.Progress != nil {
		kc.Log = slog.New(slog.NewTextHandler(progressWriter{e}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	d, err := kind.New(kc)
	if err != nil {
		return nil, err
	}
	e.progressf("starting kind cluster %s (node image %s, refengine image %s); data and logs in %s", orDefault(kc.Name, "faultline"), kc.NodeImage, kc.RefengineImage, d.Dir())
	if err := d.Up(ctx); err != nil {
		if d.Ready() {
			if _, lerr := d.Logs(context.WithoutCancel(ctx)); lerr != nil {
				e.progressf("saving pod logs: %v", lerr)
			}
		}
		return nil, err
	}
	e.mu.Lock()
	e.owned = d
	e.kubernetes = d.KubernetesVersion()
	e.mu.Unlock()
	e.progressf("kind cluster up: Kubernetes %s, manager %s, %d storage nodes", d.KubernetesVersion(), d.ManagerURL(), len(d.Nodes()))
	return d, nil
}

// stopKind keeps every pod's log when the run failed (the manager's always), then deletes the
// cluster unless it is to be kept.
func (e *Env) stopKind(ctx context.Context, d *kind.Driver, failed bool) {
	if failed {
		if _, err := d.Logs(ctx); err != nil {
			e.progressf("saving pod logs: %v", err)
		}
		e.progressf("pod logs saved in %s", d.LogDir())
	}
	Expect(d.Down(ctx)).To(Succeed())
	if e.cfg.KeepCluster {
		e.progressf("keeping kind cluster %s (delete it with: kind delete cluster --name %s)", d.Name(), d.Name())
		return
	}
	e.progressf("kind cluster %s deleted", d.Name())
	if !failed {
		Expect(d.RemoveDisks()).To(Succeed())
	}
}

// progressWriter feeds the kind driver's log lines into the run's progress output.
type progressWriter struct{ e *Env }

func (w progressWriter) Write(p []byte) (int, error) {
	w.e.progressf("%s", trimNewline(string(p)))
	return len(p), nil
}

func trimNewline(s string) string { return strings.TrimRight(s, "\r\n") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
