package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/manager"
)

// registerManager adds `refengine manager`, the control plane.
func registerManager(cmds map[string]subcommand) {
	cmds["manager"] = subcommand{
		summary: "run the control plane: REST API, state in bbolt, controllers",
		run:     runManager,
	}
}

type managerConfig struct {
	listen      string
	dataDir     string
	nodeTimeout time.Duration
	url         string
	backup      string
	restoreRate int64
	logLevel    slog.Level
	defects     []string
	credential  credential.Token // --cluster-token-file; zero when none
	apiToken    credential.Token // --api-token-file; zero when none
	engineDirs  absDirList       // --engine-image-dir; empty: manager.DefaultEngineImageDir
	backingDirs absDirList       // --backing-image-dir; empty: <data-dir>/import
}

// absDirList is a repeatable flag of absolute directory paths (made
// clean).
type absDirList []string

func (d *absDirList) String() string { return strings.Join(*d, ",") }

func (d *absDirList) Set(s string) error {
	if !filepath.IsAbs(s) {
		return fmt.Errorf("%q is not an absolute path", s)
	}
	*d = append(*d, filepath.Clean(s))
	return nil
}

func parseManagerFlags(args []string, stderr io.Writer) (*managerConfig, error) {
	c := &managerConfig{}
	fs := flag.NewFlagSet("refengine manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var defects, level, tokenFile, apiTokenFile string
	fs.StringVar(&c.listen, "listen", "127.0.0.1:9500", "address to serve the REST API on (loopback unless you mean it)")
	fs.StringVar(&c.dataDir, "data-dir", "", "directory for manager.db and backing image files (required)")
	fs.DurationVar(&c.nodeTimeout, "node-timeout", 5*time.Second, "a node that sends no heartbeat for this long is down")
	fs.StringVar(&c.url, "url", "", "URL nodes reach this manager at (default http://<listen address>)")
	fs.StringVar(&c.backup, "backup-target", "", "URL of the \"default\" backup target when it does not exist yet (default file://<data-dir>/backupstore, created); later changes go through the API")
	fs.Int64Var(&c.restoreRate, "restore-rate-limit", 0, "bytes per second each replica restore may write (0 = no limit); slows restores down so that tests can fault them midway")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&defects, "defects", os.Getenv("REFENGINE_DEFECTS"), "comma-separated defect switches to turn on (default $REFENGINE_DEFECTS); for proving checkers only")
	fs.StringVar(&tokenFile, "cluster-token-file", os.Getenv("REFENGINE_CLUSTER_TOKEN_FILE"), "file (mode 0600) holding the cluster credential the manager proves to nodes over TCP (default $REFENGINE_CLUSTER_TOKEN_FILE; docs/security.md)")
	fs.StringVar(&apiTokenFile, "api-token-file", "", "file (mode 0600, 64 hex digits like a cluster credential) holding an operator bearer token with full access to the REST API (docs/security.md)")
	fs.Var(&c.engineDirs, "engine-image-dir", "directory engine image binaries may be registered from, symbolic links resolved (repeatable; default "+manager.DefaultEngineImageDir+", where engine-image DaemonSets install them)")
	fs.Var(&c.backingDirs, "backing-image-dir", "directory backing images may be created from by path, symbolic links resolved (repeatable; default <data-dir>/import, created); uploads need none")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: refengine manager --data-dir DIR [--listen 127.0.0.1:9500] [--node-timeout 5s] [--backup-target URL] [--restore-rate-limit BYTES] [--defects list] [--cluster-token-file FILE] [--api-token-file FILE] [--engine-image-dir DIR]... [--backing-image-dir DIR]...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.dataDir == "" {
		return nil, errors.New("--data-dir is required")
	}
	if c.nodeTimeout <= 0 {
		return nil, fmt.Errorf("--node-timeout %s must be positive", c.nodeTimeout)
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return nil, fmt.Errorf("--listen %q: %w", c.listen, err)
	}
	if c.backup != "" {
		if _, err := backupstore.ParseURL(c.backup); err != nil {
			return nil, fmt.Errorf("--backup-target: %w", err)
		}
	}
	if c.restoreRate < 0 {
		return nil, fmt.Errorf("--restore-rate-limit %d must not be negative", c.restoreRate)
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
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
	if apiTokenFile != "" {
		if c.apiToken, err = credential.Load(apiTokenFile); err != nil {
			return nil, fmt.Errorf("--api-token-file: %w", err)
		}
	}
	if c.credential.IsZero() && c.apiToken.IsZero() && !isLoopback(c.listen) {
		return nil, fmt.Errorf("--listen %s is reachable from other hosts, and without a token the REST API would let anyone register nodes and engine images: pass --cluster-token-file or --api-token-file, or listen on 127.0.0.1", c.listen)
	}
	return c, nil
}

// isLoopback reports whether a listen address binds loopback only: a
// loopback IP or "localhost"; an empty host binds every interface.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runManager(args []string) int {
	c, err := parseManagerFlags(args, os.Stderr)
	if code, done := flagsFailed("manager", err); done {
		return code
	}
	return serveDaemon("manager", c.logLevel, "component", "manager", func(ctx context.Context, log *slog.Logger) error {
		return serveManager(ctx, c, log)
	})
}

// serveManager listens, serves the API and runs the controllers until ctx
// ends, then shuts the HTTP server down gracefully and closes the store.
func serveManager(ctx context.Context, c *managerConfig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.listen, err)
	}
	url := c.url
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	if len(c.defects) > 0 {
		log.Warn("DEFECT SWITCHES ON: this manager re-introduces known bugs on purpose", "defects", c.defects)
	}
	m, err := manager.Open(manager.Config{
		DataDir: c.dataDir, NodeTimeout: c.nodeTimeout, Defects: c.defects, URL: url, Logger: log,
		BackupTargetURL: c.backup, RestoreRateLimit: c.restoreRate, Credential: c.credential, APIToken: c.apiToken,
		EngineImageDirs: c.engineDirs, BackingImageDirs: c.backingDirs,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer m.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Requests inherit runCtx, so long polls end as soon as shutdown starts.
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.Run(runCtx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("manager serving", "listen", ln.Addr().String(), "url", url, "data_dir", c.dataDir, "node_timeout", c.nodeTimeout, "version", manager.Version,
		"api_auth", !c.credential.IsZero() || !c.apiToken.IsZero())
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
	}
	cancel()
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if serr := srv.Shutdown(shutCtx); serr != nil {
		srv.Close()
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
