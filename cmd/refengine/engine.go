package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/srcaddr"
)

// registerEngine adds `refengine engine`, the engine process a node starts
// for an attached volume.
func registerEngine(cmds map[string]subcommand) {
	cmds["engine"] = subcommand{
		summary: "run one volume engine (raid1 over replica NBD exports); started by a node",
		run:     runEngine,
	}
}

// replicaList is the repeatable --replica NAME,ADDRESS,EXPORT[,BITMAP] flag.
type replicaList []engineproc.Replica

func (r *replicaList) String() string { return "" }

func (r *replicaList) Set(v string) error {
	parts := strings.Split(v, ",")
	if len(parts) < 3 || len(parts) > 4 || slices.Contains(parts, "") {
		return fmt.Errorf("want NAME,ADDRESS,EXPORT[,BITMAP_EXPORT], got %q", v)
	}
	rep := engineproc.Replica{Name: parts[0], Address: parts[1], Export: parts[2]}
	if len(parts) == 4 {
		rep.Bitmap = parts[3]
	}
	*r = append(*r, rep)
	return nil
}

type engineConfig struct {
	cfg      engineproc.Config
	logLevel string
}

func parseEngineFlags(args []string, stderr io.Writer) (*engineConfig, error) {
	var c engineConfig
	var reps replicaList
	var size string
	fs := flag.NewFlagSet("refengine engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.cfg.Name, "name", "", "engine name (required)")
	fs.StringVar(&size, "size", "", "volume size in bytes with an optional K, M, G or T suffix (required)")
	fs.StringVar(&c.cfg.ControlSocket, "control-socket", "", "Unix socket for the JSON-RPC control channel (required)")
	fs.StringVar(&c.cfg.NBDSocket, "nbd-socket", "", "Unix socket serving the volume over NBD as export \"engine\" (required)")
	fs.Var(&reps, "replica", "NAME,ADDRESS,EXPORT[,BITMAP_EXPORT] of a replica's NBD export and of its write-intent bitmap's (repeatable, at least one; all with a bitmap or none; the access keys of protected exports come in $"+engineproc.KeysEnv+", never as flags)")
	fs.BoolVar(&c.cfg.Standby, "standby", false, "start for a live upgrade: take no writes until engine_activate (default: resync after a crash, then serve)")
	var defects string
	fs.StringVar(&defects, "defects", os.Getenv("REFENGINE_DEFECTS"), "comma-separated defect switches (default $REFENGINE_DEFECTS); for proving checkers only")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.cfg.SourceAddress, "source-address", os.Getenv(srcaddr.Env), "IP to dial replicas from (default $"+srcaddr.Env+", which the node sets; empty: the kernel's choice)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, f := range []struct{ flag, value string }{
		{"name", c.cfg.Name}, {"size", size}, {"control-socket", c.cfg.ControlSocket}, {"nbd-socket", c.cfg.NBDSocket},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("--%s is required", f.flag)
		}
	}
	n, err := parseSize(size)
	if err != nil {
		return nil, fmt.Errorf("--size: %w", err)
	}
	c.cfg.Size = n
	if len(reps) == 0 {
		return nil, errors.New("at least one --replica is required")
	}
	c.cfg.Replicas = reps
	withBitmap := 0
	for _, r := range reps {
		if r.Bitmap != "" {
			withBitmap++
		}
	}
	if withBitmap != 0 && withBitmap != len(reps) {
		return nil, fmt.Errorf("--replica: %d of %d replicas name a bitmap export; all or none must", withBitmap, len(reps))
	}
	// The keys of protected exports come apart from --replica: see KeysEnv.
	if c.cfg.Replicas, err = engineproc.WithKeys(reps, os.Getenv(engineproc.KeysEnv)); err != nil {
		return nil, err
	}
	if _, err := srcaddr.Dialer(c.cfg.SourceAddress, "tcp"); err != nil {
		return nil, fmt.Errorf("--source-address: %w", err)
	}
	if c.cfg.Defects, err = parseDefects(defects); err != nil {
		return nil, err
	}
	if _, err := simpleLevel(c.logLevel); err != nil {
		return nil, err
	}
	return &c, nil
}

func runEngine(args []string) int {
	c, err := parseEngineFlags(args, os.Stderr)
	if code, done := flagsFailed("engine", err); done {
		return code
	}
	level, _ := simpleLevel(c.logLevel)
	return serveDaemon("engine", level, "engine", c.cfg.Name, func(ctx context.Context, log *slog.Logger) error {
		c.cfg.Log = log
		if err := serveEngine(ctx, c.cfg, log); err != nil {
			return err
		}
		log.Info("engine stopped")
		return nil
	})
}

func serveEngine(ctx context.Context, cfg engineproc.Config, log *slog.Logger) error {
	e, err := engineproc.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := os.Remove(cfg.NBDSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.Close()
		return fmt.Errorf("remove stale nbd socket: %w", err)
	}
	nbdL, err := net.Listen("unix", cfg.NBDSocket)
	if err != nil {
		e.Close()
		return fmt.Errorf("listen nbd: %w", err)
	}
	ctlL, err := jsonrpc.ListenUnix(cfg.ControlSocket)
	if err != nil {
		nbdL.Close()
		e.Close()
		return err
	}
	if len(cfg.Defects) > 0 {
		log.Warn("DEFECT SWITCHES ON: this engine re-introduces known bugs on purpose", "defects", cfg.Defects)
	}
	log.Info("engine connected", "size", e.Raid().Size(), "modes", e.Info().Modes, "standby", cfg.Standby, "cpus", runtime.GOMAXPROCS(0))
	return e.Serve(ctx, ctlL, nbdL)
}
