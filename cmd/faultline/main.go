// Command faultline runs chaos-and-verification scenarios against
// refengine: `faultline run` brings up a cluster, runs the Ginkgo suites
// compiled into this binary and writes a report directory; `faultline soak`
// runs the soak scenario (a seeded nemesis) for a given duration; `list`,
// `report`, `mutation`, `cluster up|down|status|env` and `fault
// inject|heal|list` are the supporting tools.
//
// Exit status: 0 every scenario passed, 1 a scenario failed, 2 faultline
// could not run (bad flags, the cluster could not start, ...).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
)

// Exit statuses.
const (
	exitPass   = 0
	exitFail   = 1
	exitNotRun = 2
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"run":      {"run scenarios on a cluster and write a report directory", runCmd},
		"list":     {"list the scenarios with their labels and descriptions", listCmd},
		"report":   {"regenerate report.html of a report directory from its run.json", reportCmd},
		"mutation": {"run each seed scenario with and without its defect; print the matrix", mutationCmd},
		"cluster":  {"start, stop or inspect a local cluster by hand (up|down|status|env)", clusterCmd},
		"fault":    {"inject, heal and list faults in a local cluster started with cluster up", faultCmd},
		"soak":     {"Jepsen-style nemesis: seeded faults over several volumes for --duration, every checker at quiescent points", soakCmd},
	}
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return exitNotRun
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout, cmds)
		return exitPass
	case "version", "--version":
		fmt.Fprintln(stdout, "faultline", version())
		return exitPass
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "faultline: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return exitNotRun
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: faultline <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'faultline <command> --help' for its flags.")
	fmt.Fprintln(w, "Exit status: 0 all scenarios passed, 1 a scenario failed, 2 could not run.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: faultline %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping -h to exit 0 and any other error to exit 2.
// ok is false when the caller should return code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPass, false
		}
		return exitNotRun, false
	}
	return 0, true
}

// version is the module version of this binary, or its VCS revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
