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
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/instance"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/srcaddr"
	"github.com/faultline/faultline/engine/target"
)

// registerNode adds `refengine node`, the per-node daemon serving the
// SPDK-compatible target. The admin command of the same name (node list,
// get, delete) registered before it keeps working: arguments that start
// with a verb rather than a flag go to it.
func registerNode(cmds map[string]subcommand) {
	admin, hasAdmin := cmds["node"]
	summary := "run a node: the SPDK-compatible target (JSON-RPC + NBD) over local disks"
	if hasAdmin {
		summary += "; or " + admin.summary + " (node list|get|delete)"
	}
	cmds["node"] = subcommand{
		summary: summary,
		run: func(args []string) int {
			if hasAdmin && len(args) == 1 && isHelpArg(args[0]) {
				// One name, two commands: the help shows both.
				code := runNode([]string{"--help"})
				fmt.Fprintln(os.Stderr, "\nThe same command is the admin client of the manager's nodes:")
				admin.run([]string{"--help"})
				return code
			}
			if hasAdmin && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				return admin.run(args)
			}
			return runNode(args)
		},
	}
}

// isHelpArg reports whether arg asks for help.
func isHelpArg(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// diskFlag is one --disk NAME=PATH[:SIZE].
type diskFlag struct {
	name, path string
	size       int64 // 0: the file must exist
}

type diskList []diskFlag

// dirList is the repeatable --allow-dir.
type dirList []string

func (d *dirList) String() string { return strings.Join(*d, ",") }

func (d *dirList) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty directory")
	}
	*d = append(*d, v)
	return nil
}

func (d *diskList) String() string { return "" }

func (d *diskList) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	if !ok || name == "" || rest == "" {
		return fmt.Errorf("want NAME=PATH[:SIZE], got %q", v)
	}
	disk := diskFlag{name: name, path: rest}
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		size, err := parseSize(rest[i+1:])
		if err != nil {
			return fmt.Errorf("disk %s: %w", name, err)
		}
		disk.path, disk.size = rest[:i], size
	}
	if disk.path == "" {
		return fmt.Errorf("disk %s: empty path", name)
	}
	for _, other := range *d {
		if other.name == name {
			return fmt.Errorf("disk %s given twice", name)
		}
	}
	*d = append(*d, disk)
	return nil
}

// parseSize reads a byte count with an optional binary suffix K, M, G or T
// (KiB, MiB, ...), e.g. 512M.
func parseSize(s string) (int64, error) {
	s, mult := splitSizeSuffix(s)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a positive number of bytes with an optional K, M, G or T suffix", s)
	}
	return v * mult, nil
}

type nodeConfig struct {
	name, dataDir, rpcSocket, rpcListen, nbdListen, logLevel string
	disks                                                    diskList
	allowDirs                                                dirList
	defects                                                  []string
	managerURL, address, source                              string
	heartbeat                                                time.Duration
	diskErrors                                               bool
	// cpus is how many CPUs run the node's Go code at once
	// (GOMAXPROCS); 0 leaves the Go runtime's choice.
	cpus int
	// credential is the cluster secret (--cluster-token-file); zero when
	// none was given.
	credential credential.Token
}

func parseNodeFlags(args []string, stderr io.Writer) (*nodeConfig, error) {
	var c nodeConfig
	var defects, tokenFile string
	fs := flag.NewFlagSet("refengine node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.name, "name", "", "node name (required)")
	fs.StringVar(&c.dataDir, "data-dir", "", "directory for this node's files; relative disk paths are resolved in it (required)")
	fs.StringVar(&c.rpcSocket, "rpc-socket", "", "Unix socket path of the SPDK-compatible JSON-RPC server (required)")
	fs.StringVar(&c.rpcListen, "rpc-listen", "", "also serve JSON-RPC on this TCP address, e.g. 127.0.0.1:5260")
	fs.StringVar(&c.nbdListen, "nbd-listen", "", "TCP address of the NBD server, e.g. 127.0.0.1:10809 (required)")
	fs.Var(&c.disks, "disk", "NAME=PATH[:SIZE]: register PATH as aio bdev NAME at start, creating a sparse file of SIZE (K/M/G/T) if missing; its lvstore is examined (repeatable)")
	fs.Var(&c.allowDirs, "allow-dir", "DIR: JSON-RPC methods (bdev_aio_create) may open files under DIR too, besides --data-dir and the --disk directories (repeatable; symlinks are resolved, so a link out of them is refused)")
	fs.BoolVar(&c.diskErrors, "disk-error-injection", false, "put an error bdev EE_NAME (bdev_error_create) between each --disk and its lvstore, so that bdev_error_inject_error can fail the disk's I/O; a pass-through until armed, and an lvstore made with or without it is found either way")
	fs.StringVar(&defects, "defects", os.Getenv("REFENGINE_DEFECTS"), "comma-separated defect switches to turn on (default $REFENGINE_DEFECTS); for proving checkers only")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.managerURL, "manager", "", "manager base URL to send heartbeats to, e.g. http://127.0.0.1:9500 (none: no heartbeats)")
	fs.DurationVar(&c.heartbeat, "heartbeat", time.Second, "heartbeat period")
	fs.StringVar(&c.address, "address", "", "host workloads reach this node at (default: the host of --nbd-listen)")
	fs.StringVar(&tokenFile, "cluster-token-file", os.Getenv("REFENGINE_CLUSTER_TOKEN_FILE"), "file (mode 0600) holding the cluster credential that peers, the manager and the framework prove over TCP (default $REFENGINE_CLUSTER_TOKEN_FILE; docs/security.md)")
	fs.IntVar(&c.cpus, "cpus", 1, "CPUs that run the node's and its engines' code at once (GOMAXPROCS), like the core mask of SPDK's reactors (Longhorn's v2 data engine takes one core by default); blocking disk and socket calls still run beside them; 0: the Go runtime's choice ($GOMAXPROCS, else every CPU)")
	fs.StringVar(&c.source, "source-address", os.Getenv(srcaddr.Env), "IP this node and its engines dial peers, replicas and the manager from (default $"+srcaddr.Env+"; empty: the kernel's choice)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: refengine node --name N --data-dir D --rpc-socket S --nbd-listen ADDR [flags]

Runs one node's SPDK-compatible storage target: aio disks with their
lvstores and lvols, raid1 volumes, NBD exports and remote bdevs, driven by
SPDK-style JSON-RPC on --rpc-socket (see docs/jsonrpc.md). Logs go to
stderr. SIGTERM or SIGINT shuts down cleanly (flushing every lvstore).

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, f := range []struct{ flag, value string }{
		{"name", c.name}, {"data-dir", c.dataDir}, {"rpc-socket", c.rpcSocket}, {"nbd-listen", c.nbdListen},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("--%s is required", f.flag)
		}
	}
	for _, addr := range []string{c.nbdListen, c.rpcListen} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("listen address %q: %w", addr, err)
		}
	}
	if _, err := simpleLevel(c.logLevel); err != nil {
		return nil, err
	}
	if _, err := srcaddr.Dialer(c.source, "tcp"); err != nil {
		return nil, fmt.Errorf("--source-address: %w", err)
	}
	if c.heartbeat <= 0 {
		return nil, fmt.Errorf("--heartbeat %v: want a positive duration", c.heartbeat)
	}
	if c.cpus < 0 {
		return nil, fmt.Errorf("--cpus %d: want 0 (the Go runtime's choice) or more", c.cpus)
	}
	var err error
	if c.defects, err = parseDefects(defects); err != nil {
		return nil, err
	}
	if tokenFile != "" {
		if c.credential, err = credential.Load(tokenFile); err != nil {
			return nil, fmt.Errorf("--cluster-token-file: %w", err)
		}
	}
	if c.rpcListen != "" && c.credential.IsZero() {
		// Over TCP, JSON-RPC opens the node to every process that reaches
		// the port; only holders of the cluster credential may use it.
		return nil, fmt.Errorf("--rpc-listen %s needs --cluster-token-file (or $REFENGINE_CLUSTER_TOKEN_FILE): JSON-RPC over TCP accepts only callers that prove the cluster credential (docs/security.md)", c.rpcListen)
	}
	return &c, nil
}

func runNode(args []string) int {
	c, err := parseNodeFlags(args, os.Stderr)
	if code, done := flagsFailed("node", err); done {
		return code
	}
	if c.cpus > 0 {
		runtime.GOMAXPROCS(c.cpus)
	}
	level, _ := simpleLevel(c.logLevel)
	return serveDaemon("node", level, "node", c.name, func(ctx context.Context, log *slog.Logger) error {
		if err := serveNode(ctx, c, log); err != nil {
			return err
		}
		log.Info("node stopped")
		return nil
	})
}

// serveNode runs the node until ctx is done or a server fails.
func serveNode(ctx context.Context, c *nodeConfig, log *slog.Logger) error {
	if len(c.defects) > 0 {
		log.Warn("DEFECT SWITCHES ON: this node re-introduces known bugs on purpose", "defects", c.defects)
	}
	if err := os.MkdirAll(c.dataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	t := target.New(target.Options{Log: log, Defects: c.defects, SourceAddress: c.source, Credential: c.credential,
		AllowedDirs: c.allowedDirs()})
	defer func() {
		if err := t.Close(); err != nil {
			log.Error("target close", "err", err)
		}
	}()
	for _, d := range c.disks {
		path := c.diskPath(d)
		if err := ensureDisk(path, d.size); err != nil {
			return fmt.Errorf("disk %s: %w", d.name, err)
		}
		if c.diskErrors {
			// Configured before the aio bdev exists, the error bdev claims
			// it before the lvstore on it is looked for.
			if err := t.Call(ctx, "bdev_error_create", map[string]any{"base_name": d.name}, nil); err != nil {
				return fmt.Errorf("disk %s: error bdev: %w", d.name, err)
			}
		}
		if err := t.CreateAio(d.name, path, 0); err != nil {
			return fmt.Errorf("disk %s: %w", d.name, err)
		}
	}

	rpcL, err := jsonrpc.ListenUnix(c.rpcSocket)
	if err != nil {
		return err
	}
	listeners := []net.Listener{rpcL}
	var rpcTCP net.Listener
	if c.rpcListen != "" {
		if rpcTCP, err = net.Listen("tcp", c.rpcListen); err != nil {
			rpcL.Close()
			return fmt.Errorf("listen json-rpc on %s: %w", c.rpcListen, err)
		}
		listeners = append(listeners, rpcTCP)
	}
	nbdL, err := net.Listen("tcp", c.nbdListen)
	if err != nil {
		for _, l := range listeners {
			l.Close()
		}
		return fmt.Errorf("listen nbd on %s: %w", c.nbdListen, err)
	}

	srv := jsonrpc.NewServer(log.With("component", "jsonrpc"))
	t.Register(srv)
	rpcAddr := ""
	if rpcTCP != nil {
		rpcAddr = rpcTCP.Addr().String()
	}
	im, err := newInstanceManager(ctx, c, t, rpcAddr, nbdL.Addr().String(), log)
	if err != nil {
		nbdL.Close()
		for _, l := range listeners {
			l.Close()
		}
		return err
	}
	defer im.Close()
	im.Register(srv)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(listeners)+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- srv.Serve(ctx, rpcL) // the local administrator's door
	}()
	if rpcTCP != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- srv.ServeAuthenticated(ctx, rpcTCP, c.credential)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- t.NBD().Serve(ctx, nbdL)
	}()
	log.Info("node ready", "rpc_socket", c.rpcSocket, "rpc_listen", rpcAddr, "allowed_dirs", c.allowedDirs(), "nbd_listen", nbdL.Addr().String(), "disks", len(c.disks), "cpus", runtime.GOMAXPROCS(0))
	var first error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case first = <-errs:
		log.Error("server stopped", "err", first)
	}
	cancel()
	t.NBD().Close()
	wg.Wait()
	return first
}

// diskPath is where a --disk's file is: relative paths are in the data
// dir.
func (c *nodeConfig) diskPath(d diskFlag) string {
	if filepath.IsAbs(d.path) {
		return d.path
	}
	return filepath.Join(c.dataDir, d.path)
}

// allowedDirs are the directories whose files JSON-RPC may open: the data
// dir, each --disk's directory and every --allow-dir.
func (c *nodeConfig) allowedDirs() []string {
	dirs := []string{c.dataDir}
	for _, d := range c.disks {
		dirs = append(dirs, filepath.Dir(c.diskPath(d)))
	}
	dirs = append(dirs, c.allowDirs...)
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// ensureDisk creates a sparse file of size bytes at path if none exists.
func ensureDisk(path string, size int64) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if size == 0 {
		return fmt.Errorf("%s does not exist and no size was given to create it", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// newInstanceManager starts the node's instance manager (replicas, engines,
// heartbeats to --manager). rpcTCP is the address JSON-RPC is served at
// over TCP, "" for none.
func newInstanceManager(ctx context.Context, c *nodeConfig, t *target.Target, rpcTCP, nbdAddr string, log *slog.Logger) (*instance.Manager, error) {
	address := c.address
	if address == "" {
		address, _, _ = net.SplitHostPort(nbdAddr)
	}
	rpcAddr := "tcp:" + rpcTCP
	if rpcTCP == "" {
		abs, err := filepath.Abs(c.rpcSocket)
		if err != nil {
			return nil, fmt.Errorf("rpc socket path: %w", err)
		}
		rpcAddr = "unix:" + abs
	}
	im, err := instance.New(instance.Options{
		Node: c.name, Target: t, Address: address, RPCAddress: rpcAddr, NBDAddress: nbdAddr,
		ManagerURL: c.managerURL, Heartbeat: c.heartbeat, DataDir: c.dataDir, Defects: c.defects, Log: log,
		SourceAddress: c.source, Credential: c.credential, EngineCPUs: c.cpus,
	})
	if err != nil {
		return nil, err
	}
	if err := im.Start(ctx); err != nil {
		im.Close()
		return nil, fmt.Errorf("start instance manager: %w", err)
	}
	return im, nil
}
