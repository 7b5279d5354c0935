package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/kind"
	"github.com/faultline/faultline/cluster/kind/chaosmesh"
)

const faultChaosSynopsis = `fault apply|delete FILE [--kind-name NAME] [--chaos-executor E] [flags]

Carries out Chaos Mesh objects (PodChaos, NetworkChaos, StressChaos, …, in
YAML or JSON, several separated by ---) on a running kind cluster, by hand.
Objects without a namespace go to refengine's (refengine-system). Each is
checked with Chaos Mesh's own defaulting and validation first.

  apply   submit the objects to the Chaos Mesh on the cluster and wait
          until it reports each injected; they stay until delete. Without
          Chaos Mesh (or with --chaos-executor native), faultline carries out
          PodChaos pod-kill and container-kill itself and refuses the rest.
  delete  delete the objects and wait until Chaos Mesh has recovered them.

Exit status: 0 done; 1 the cluster refused or did not inject an object;
2 bad arguments or file, or no such cluster.`

// faultChaosCmd is `faultline fault apply|delete`.
func faultChaosCmd(sub string, args []string, stdout, stderr io.Writer) int {
	var cfg kind.Config
	output, timeout := "table", 5*time.Minute
	fs := newFlagSet("fault "+sub, faultChaosSynopsis, stderr)
	fs.StringVar(&output, "output", output, "output format: table or json")
	fs.DurationVar(&timeout, "timeout", timeout, "give up after this long")
	kindAttachFlags(fs, &cfg)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "faultline fault %s: name a file of Chaos Mesh objects\n", sub)
		return exitNotRun
	}
	file := fs.Arg(0)
	if code, ok := parse(fs, fs.Args()[1:]); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faultline fault %s: unexpected argument %q (one file)\n", sub, fs.Arg(0))
		return exitNotRun
	}
	if err := checkOutput(output); err != nil {
		fmt.Fprintf(stderr, "faultline fault %s: %v\n", sub, err)
		return exitNotRun
	}
	objs, err := readChaosFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "faultline fault %s: %s: %v\n", sub, file, err)
		return exitNotRun
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := kind.Attach(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "faultline fault %s: %v\n", sub, err)
		return exitNotRun
	}
	var done []cluster.Execution
	code := exitPass
	for _, o := range objs {
		var ex cluster.Execution
		var err error
		if sub == "apply" {
			ex, err = d.ApplyChaos(ctx, o)
		} else {
			ex, err = cluster.Execution{Executor: d.Executor(), Object: o.Ref()}, d.DeleteChaos(ctx, o)
		}
		if err != nil {
			fmt.Fprintf(stderr, "faultline fault %s: %v\n", sub, err)
			code = exitFail
			break
		}
		done = append(done, ex)
	}
	if output == "json" {
		if c := printJSON(stdout, done); c != exitPass {
			return c
		}
		return code
	}
	for _, ex := range done {
		switch {
		case sub == "delete" && ex.Executor != kind.ExecutorChaosMesh:
			fmt.Fprintf(stdout, "%s: nothing to delete (the native executor's faults are one-shot)\n", ex.Object)
		case sub == "delete":
			fmt.Fprintf(stdout, "%s deleted; Chaos Mesh recovered it\n", ex.Object)
		default:
			var at []string
			for _, t := range ex.Injected {
				at = append(at, clock(t))
			}
			fmt.Fprintf(stdout, "%s injected by %s at %s\n", ex.Object, ex.Executor, strings.Join(at, ", "))
		}
	}
	return code
}

func readChaosFile(path string) ([]chaosmesh.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return chaosmesh.Decode(f, kind.Namespace)
}

// kindAttachFlags are the kind flags that name a running cluster.
func kindAttachFlags(fs *flag.FlagSet, c *kind.Config) {
	fs.StringVar(&c.Name, "kind-name", "faultline", "kind: cluster `NAME`")
	fs.StringVar(&c.ChaosExecutor, "chaos-executor", kind.ExecutorAuto, "who carries the objects out: auto (the Chaos Mesh on the cluster when there is one, else faultline), chaos-mesh (required), native (faultline: PodChaos pod-kill and container-kill only)")
	fs.StringVar(&c.Kind, "kind", "", "kind: the kind `BINARY` (default: kind on PATH)")
}
