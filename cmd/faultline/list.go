package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/faultline/faultline/scenarios"
)

func listCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("list", "list [--json]", stderr)
	asJSON := fs.Bool("json", false, "print the catalogue as a JSON array of {name, labels, description, timeout}")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faultline list: unexpected argument %q\n", fs.Arg(0))
		return exitNotRun
	}
	cat := scenarios.Catalogue()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(cat); err != nil {
			fmt.Fprintln(stderr, "faultline list:", err)
			return exitNotRun
		}
		return exitPass
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tLABELS\tTIMEOUT\tDESCRIPTION")
	for _, e := range cat {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, strings.Join(e.Labels, ","), e.Timeout, e.Description)
	}
	tw.Flush()
	return exitPass
}
