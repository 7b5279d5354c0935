package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/faultline/faultline/reports"
)

func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("report", "report DIR\n\nRe-renders DIR/report.html from DIR/run.json (after a faultline upgrade, or\nto look at an old run with the current report design).", stderr)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "faultline report: want exactly one report directory")
		fs.Usage()
		return exitNotRun
	}
	dir := fs.Arg(0)
	if err := reports.RegenerateHTML(dir); err != nil {
		fmt.Fprintln(stderr, "faultline report:", err)
		return exitNotRun
	}
	fmt.Fprintln(stdout, filepath.Join(dir, "report.html"))
	return exitPass
}
