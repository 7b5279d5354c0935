package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// registerProbe adds `refengine probe node|manager`, the exec readiness
// and liveness probes of the Kubernetes pods: their images hold nothing but
// this binary, so a probe that asks the daemon a real question has to be
// one of its subcommands.
func registerProbe(cmds map[string]subcommand) {
	cmds["probe"] = subcommand{
		summary: "check that a node or the manager serves (exit 0) or say why not (exit 1)",
		run: func(args []string) int {
			return runProbe(args, os.Stdout, os.Stderr)
		},
	}
}

const probeUsage = `usage: refengine probe node --rpc-socket PATH [--timeout 2s]
       refengine probe manager [--url http://127.0.0.1:9500] [--timeout 2s]

probe node calls bdev_get_bdevs on the node's JSON-RPC socket. A node
serves JSON-RPC only after its disks are registered, their lvstores
examined and its instance manager started, so an answer means the node is
up and serving. It does not ask the manager: a node stays ready while
its manager is away.

probe manager calls GET /v1/version on the manager's REST API and checks
that the answer names this API version.

Exit status: 0 when the daemon answered, 1 (with a one-line reason on
stderr) when it did not, 2 on bad arguments.
`

func runProbe(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, probeUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	what := args[0]
	fs := flag.NewFlagSet("refengine probe "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, probeUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long (counts as unhealthy)")
	var check func(ctx context.Context) (string, error)
	switch what {
	case "node":
		socket := fs.String("rpc-socket", "", "the node's JSON-RPC Unix socket (required)")
		check = func(ctx context.Context) (string, error) {
			if *socket == "" {
				return "", usagef("--rpc-socket is required")
			}
			return probeNode(ctx, *socket)
		}
	case "manager":
		url := fs.String("url", "http://127.0.0.1:9500", "the manager's base URL")
		check = func(ctx context.Context) (string, error) {
			return probeManager(ctx, *url)
		}
	default:
		fmt.Fprintf(stderr, "refengine probe: unknown target %q: want node or manager\n", what)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "refengine probe %s: unexpected arguments: %q\n", what, fs.Args())
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "refengine probe %s: --timeout %v: want a positive duration\n", what, *timeout)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ok, err := check(ctx)
	var usageErr usageError
	if errors.As(err, &usageErr) {
		fmt.Fprintf(stderr, "refengine probe %s: %v\n", what, err)
		return 2
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (no answer within %v)", err, *timeout)
		}
		fmt.Fprintf(stderr, "refengine probe %s: %v\n", what, err)
		return 1
	}
	fmt.Fprintln(stdout, ok)
	return 0
}

// probeNode asks the node at socket for its bdevs and returns a line
// saying how many it has.
func probeNode(ctx context.Context, socket string) (string, error) {
	c, err := jsonrpc.Dial(ctx, "unix", socket)
	if err != nil {
		return "", fmt.Errorf("node not serving: %w", err)
	}
	defer c.Close()
	var bdevs []json.RawMessage
	if err := c.Call(ctx, "bdev_get_bdevs", nil, &bdevs); err != nil {
		return "", fmt.Errorf("node at %s: %w", socket, err)
	}
	return fmt.Sprintf("node at %s serves (%d bdevs)", socket, len(bdevs)), nil
}

// probeManager asks the manager at url for its version, the request the
// admin client and the local driver also use to tell that a manager is up.
func probeManager(ctx context.Context, url string) (string, error) {
	c, err := client.New(url, nil)
	if err != nil {
		return "", usagef("%v", err)
	}
	v, err := c.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("manager at %s: %w", url, err)
	}
	if v.APIVersion != api.APIVersion {
		return "", fmt.Errorf("manager at %s serves API %q, want %q", url, v.APIVersion, api.APIVersion)
	}
	return fmt.Sprintf("manager at %s serves (version %s, api %s)", url, v.Version, v.APIVersion), nil
}
