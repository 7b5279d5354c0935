package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/manager"
)

// registerVersion adds `refengine version` (main also maps --version to
// it). The version is manager.Version, the one GET /v1/version reports,
// so a binary and the manager it runs can be compared; the VCS revision
// the go tool stamped, if any, tells two builds of one version apart.
func registerVersion(cmds map[string]subcommand) {
	cmds["version"] = subcommand{
		summary: "print refengine's version, API version, Go version and VCS revision (if stamped)",
		run: func(args []string) int {
			if len(args) > 0 {
				if args[0] == "-h" || args[0] == "--help" {
					fmt.Fprintln(os.Stderr, "usage: refengine version\n\nPrints one line: refengine VERSION (api API_VERSION, GO_VERSION[, revision REV[+dirty]]).")
					return 0
				}
				fmt.Fprintf(os.Stderr, "refengine version: unexpected arguments: %q\n", args)
				return 2
			}
			printVersion(os.Stdout)
			return 0
		},
	}
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "refengine %s (api %s, %s)\n", manager.Version, api.APIVersion, buildDetails())
}

// buildDetails is the Go version and, when the binary was built from a
// git checkout, the revision (12 digits) and whether the tree was dirty.
func buildDetails() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "build info unavailable"
	}
	s := bi.GoVersion
	var rev, modified string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			modified = kv.Value
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		s += ", revision " + rev
		if modified == "true" {
			s += "+dirty"
		}
	}
	return s
}
