// Command refengine runs the reference storage engine's daemons and its admin
// client: `refengine node` (the SPDK-compatible target and instance manager),
// `refengine manager` (the control plane), the admin subcommands, and the
// small helpers a container without a shell needs (probe, kill-engine,
// engine-image install|verify, version).
package main

import (
	"fmt"
	"os"
	"sort"
)

// subcommand runs one refengine subcommand with its own flag set and returns
// the process exit code.
type subcommand struct {
	summary string
	run     func(args []string) int
}

func subcommands() map[string]subcommand {
	cmds := map[string]subcommand{}
	registerManager(cmds)
	registerAdmin(cmds)
	registerNode(cmds) // after registerAdmin: it wraps the admin "node" command
	registerEngine(cmds)
	registerProbe(cmds)
	registerKillEngine(cmds)
	registerEngineImage(cmds) // after registerAdmin: it wraps the admin "engine-image" command
	registerVersion(cmds)
	return cmds
}

func usage(cmds map[string]subcommand) {
	fmt.Fprintln(os.Stderr, "usage: refengine <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'refengine <command> --help' for a command's flags.")
}

func main() {
	cmds := subcommands()
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(cmds)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	if os.Args[1] == "--version" || os.Args[1] == "-version" {
		os.Args[1] = "version"
	}
	c, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "refengine: unknown command %q\n\n", os.Args[1])
		usage(cmds)
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}
