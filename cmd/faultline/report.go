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

func mutationCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("mutation", "mutation", stderr)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stderr, `faultline mutation: not available yet.
It runs every seed scenario twice, with and without the refengine defect
switch that re-introduces its historical bug, and prints the matrix (every
defect must be caught, every clean run must pass). It arrives with the seed
scenarios; today only the smoke scenario exists, which has no defect.`)
	return exitNotRun
}
