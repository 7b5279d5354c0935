package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/faults"
)

const faultSynopsis = `fault inject|heal|list [--cluster-dir DIR] [flags]
       fault apply|delete FILE [--kind-name NAME] (Chaos Mesh objects on kind; fault apply --help)

Injects faults into a local cluster started with faultline cluster up, by
hand, from any shell: its supervisor does the work and keeps the injected
faults, so list and heal see what another shell injected.

  inject [--for D] KIND [--PARAM VALUE ...]
          inject one fault; prints when, how long it took and the command
          that heals it. --for D heals it after D by itself.
  heal    KIND [--PARAM VALUE ...] | --all
          heal the injected faults of KIND whose parameters match the ones
          given (none: every fault of KIND), or every injected fault
  list    the fault kinds with their parameters, and the injected faults

Common flags: --cluster-dir DIR (default runs/cluster), --output table|json.
Exit status: 0 done; 1 the cluster refused the fault (an unknown node,
replica or volume, a fault injected already, nothing to heal) or it failed;
2 bad arguments, or no cluster up in DIR.`

// faultCmd is `faultline fault`.
func faultCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintf(stderr, "usage: faultline %s\n\n", faultSynopsis)
		printKinds(stderr)
		if len(args) > 0 {
			return exitPass
		}
		return exitNotRun
	}
	switch args[0] {
	case "inject":
		return faultInject(args[1:], stdout, stderr)
	case "heal":
		return faultHeal(args[1:], stdout, stderr)
	case "list":
		return faultList(args[1:], stdout, stderr)
	case "apply", "delete":
		return faultChaosCmd(args[0], args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "faultline fault: unknown subcommand %q (want inject, heal, list, apply or delete)\n", args[0])
	return exitNotRun
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// faultFlags are the flags every fault subcommand takes, before or after
// the kind.
type faultFlags struct {
	dir     string
	output  string
	timeout time.Duration
	forD    time.Duration // inject
	all     bool          // heal
}

// defaultFaultFlags are the defaults of faultFlags.
func defaultFaultFlags() faultFlags {
	return faultFlags{dir: "runs/cluster", output: "table", timeout: 5 * time.Minute}
}

// register declares the flags on fs with f's values as defaults, so that
// the kind's flag set keeps what the flags before the kind set.
func (f *faultFlags) register(fs *flag.FlagSet, sub string) {
	fs.StringVar(&f.dir, "cluster-dir", f.dir, "run directory of the cluster (faultline cluster up --dir)")
	fs.StringVar(&f.output, "output", f.output, "output format: table or json")
	fs.DurationVar(&f.timeout, "timeout", f.timeout, "give up after this long")
	switch sub {
	case "inject":
		fs.DurationVar(&f.forD, "for", f.forD, "heal the fault after this long (the supervisor does it); 0: only faultline fault heal does")
	case "heal":
		fs.BoolVar(&f.all, "all", f.all, "heal every injected fault")
	}
}

// parseFault parses `fault SUB [flags] [KIND [flags]]`: the common flags,
// then the kind and its parameters as flags (with the common ones allowed
// among them). kind is nil when no kind was given.
func parseFault(sub string, args []string, stderr io.Writer) (ff faultFlags, kind *faults.Kind, params map[string]string, code int, ok bool) {
	synopsis := "fault " + sub + " [--cluster-dir DIR] [--output table|json]"
	switch sub {
	case "inject":
		synopsis += " [--for D] KIND [--PARAM VALUE ...]"
	case "heal":
		synopsis += " KIND [--PARAM VALUE ...] | --all"
	}
	fs := newFlagSet("fault "+sub, synopsis, stderr)
	ff = defaultFaultFlags()
	ff.register(fs, sub)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: faultline %s\n\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintln(stderr)
		printKinds(stderr)
	}
	if code, ok := parse(fs, args); !ok {
		return ff, nil, nil, code, false
	}
	if fs.NArg() == 0 {
		return ff, nil, nil, 0, true
	}
	k, err := faults.LookupKind(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "faultline fault %s: %v\n", sub, err)
		return ff, nil, nil, exitNotRun, false
	}
	kfs := newFlagSet("fault "+sub+" "+k.Name, synopsis, stderr)
	ff.register(kfs, sub)
	values := map[string]*string{}
	for _, p := range k.Params {
		help := p.Help
		if p.Required && sub == "inject" {
			help += " (required)"
		}
		if len(p.Values) > 0 {
			help += "; one of " + strings.Join(p.Values, ", ")
		}
		if p.Default != "" {
			help += " (default " + p.Default + ")"
		}
		values[p.Name] = kfs.String(p.Name, "", help)
	}
	kfs.Usage = func() {
		fmt.Fprintf(stderr, "usage: faultline fault %s %s [--PARAM VALUE ...]\n\n%s\n\n", sub, k.Name, k.Help)
		kfs.PrintDefaults()
	}
	if code, ok := parse(kfs, fs.Args()[1:]); !ok {
		return ff, nil, nil, code, false
	}
	if kfs.NArg() > 0 {
		fmt.Fprintf(stderr, "faultline fault %s: unexpected argument %q\n", sub, kfs.Arg(0))
		return ff, nil, nil, exitNotRun, false
	}
	params = map[string]string{}
	kfs.Visit(func(f *flag.Flag) {
		if v, ok := values[f.Name]; ok {
			params[f.Name] = *v
		}
	})
	return ff, &k, params, 0, true
}

func faultInject(args []string, stdout, stderr io.Writer) int {
	ff, kind, params, code, ok := parseFault("inject", args, stderr)
	if !ok {
		return code
	}
	if err := checkOutput(ff.output); err != nil {
		fmt.Fprintln(stderr, "faultline fault inject:", err)
		return exitNotRun
	}
	if kind == nil {
		fmt.Fprintln(stderr, "faultline fault inject: name a fault kind (faultline fault list shows them)")
		return exitNotRun
	}
	// Local checks first: a bad parameter is reported without a cluster.
	if _, err := kind.Normalize(params); err != nil {
		fmt.Fprintln(stderr, "faultline fault inject:", err)
		return exitNotRun
	}
	ctx, cancel := context.WithTimeout(context.Background(), ff.timeout)
	defer cancel()
	r, err := attachFaults(ctx, ff.dir)
	if err != nil {
		fmt.Fprintln(stderr, "faultline fault inject:", err)
		return exitNotRun
	}
	req := injectRequest{Kind: kind.Name, Params: params}
	if ff.forD != 0 {
		req.For = ff.forD.String()
	}
	var rec faultRecord
	if err := r.Call(ctx, http.MethodPost, "/faults", req, &rec); err != nil {
		fmt.Fprintf(stderr, "faultline fault inject %s: %v\n", kind.Name, err)
		return exitFail
	}
	if rec.Recovery == "" {
		rec.Undo = undoCommand(ff.dir, rec)
	}
	if ff.output == "json" {
		return printJSON(stdout, rec)
	}
	fmt.Fprintf(stdout, "%s injected %s (took %s)\n", clock(rec.Injected), rec.ID, rec.InjectTook)
	if len(rec.Params) > len(rec.Target) {
		fmt.Fprintf(stdout, "  parameters: %s\n", faults.FormatParams(rec.Params))
	}
	switch {
	case rec.Recovery != "":
		fmt.Fprintf(stdout, "  nothing to heal: %s\n", rec.Recovery)
	case !rec.HealAt.IsZero():
		fmt.Fprintf(stdout, "  healed by the supervisor at %s; heal now with: %s\n", clock(rec.HealAt), rec.Undo)
	default:
		fmt.Fprintf(stdout, "  heal with: %s\n", rec.Undo)
	}
	return exitPass
}

func faultHeal(args []string, stdout, stderr io.Writer) int {
	ff, kind, params, code, ok := parseFault("heal", args, stderr)
	if !ok {
		return code
	}
	if err := checkOutput(ff.output); err != nil {
		fmt.Fprintln(stderr, "faultline fault heal:", err)
		return exitNotRun
	}
	req := healRequest{All: ff.all, Params: params}
	switch {
	case kind == nil && !ff.all:
		fmt.Fprintln(stderr, "faultline fault heal: name a fault kind (and its target), or --all")
		return exitNotRun
	case kind != nil && ff.all:
		fmt.Fprintln(stderr, "faultline fault heal: --all heals every fault: give no kind with it")
		return exitNotRun
	case kind != nil:
		req.Kind = kind.Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), ff.timeout)
	defer cancel()
	r, err := attachFaults(ctx, ff.dir)
	if err != nil {
		fmt.Fprintln(stderr, "faultline fault heal:", err)
		return exitNotRun
	}
	var recs []faultRecord
	if err := r.Call(ctx, http.MethodPost, "/faults/heal", req, &recs); err != nil {
		fmt.Fprintln(stderr, "faultline fault heal:", err)
		return exitFail
	}
	failed := false
	for i, rec := range recs {
		if rec.Error != "" {
			failed = true
			recs[i].Undo = undoCommand(ff.dir, rec)
		}
	}
	if ff.output == "json" {
		printJSON(stdout, map[string]any{"healed": recs})
	} else {
		if len(recs) == 0 {
			fmt.Fprintln(stdout, "no fault is injected")
		}
		for _, rec := range recs {
			if rec.Error != "" {
				fmt.Fprintf(stderr, "faultline fault heal: %s: %s (still injected; retry with: %s)\n", rec.ID, rec.Error, rec.Undo)
				continue
			}
			fmt.Fprintf(stdout, "%s healed %s (took %s; injected at %s)\n", clock(rec.Healed), rec.ID, rec.HealTook, clock(rec.Injected))
		}
	}
	if failed {
		return exitFail
	}
	return exitPass
}

// kindView is a fault kind as `fault list --output json` shows it.
type kindView struct {
	Name     string         `json:"name"`
	Help     string         `json:"help"`
	Params   []faults.Param `json:"params"`
	Target   []string       `json:"target"`
	Recovery string         `json:"recovery,omitempty"`
}

func faultList(args []string, stdout, stderr io.Writer) int {
	ff, kind, _, code, ok := parseFault("list", args, stderr)
	if !ok {
		return code
	}
	if err := checkOutput(ff.output); err != nil {
		fmt.Fprintln(stderr, "faultline fault list:", err)
		return exitNotRun
	}
	if kind != nil {
		fmt.Fprintln(stderr, "faultline fault list: takes no fault kind")
		return exitNotRun
	}
	ctx, cancel := context.WithTimeout(context.Background(), ff.timeout)
	defer cancel()
	r, err := attachFaults(ctx, ff.dir)
	if err != nil {
		fmt.Fprintln(stderr, "faultline fault list:", err)
		return exitNotRun
	}
	var active []faultRecord
	if err := r.Call(ctx, http.MethodGet, "/faults", nil, &active); err != nil {
		fmt.Fprintln(stderr, "faultline fault list:", err)
		return exitNotRun
	}
	for i := range active {
		active[i].Undo = undoCommand(ff.dir, active[i])
	}
	if ff.output == "json" {
		kinds := []kindView{}
		for _, k := range faults.Kinds() {
			kinds = append(kinds, kindView{Name: k.Name, Help: k.Help, Params: k.Params, Target: k.Target, Recovery: k.Recovery})
		}
		return printJSON(stdout, map[string]any{"kinds": kinds, "active": active})
	}
	printKinds(stdout)
	fmt.Fprintln(stdout)
	if len(active) == 0 {
		fmt.Fprintf(stdout, "no fault is injected in %s\n", ff.dir)
		return exitPass
	}
	fmt.Fprintf(stdout, "injected in %s:\n", ff.dir)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tINJECTED\tHEAL AT\tHEAL WITH")
	for _, rec := range active {
		healAt := "-"
		if !rec.HealAt.IsZero() {
			healAt = clock(rec.HealAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", rec.ID, clock(rec.Injected), healAt, rec.Undo)
	}
	tw.Flush()
	return exitPass
}

// printKinds lists the fault kinds with their parameters.
func printKinds(w io.Writer) {
	fmt.Fprintln(w, "fault kinds (parameters are flags after the kind):")
	for _, k := range faults.Kinds() {
		fmt.Fprintf(w, "  %s: %s\n", k.Name, k.Help)
		for _, p := range k.Params {
			var notes []string
			if p.Required {
				notes = append(notes, "required")
			}
			if len(p.Values) > 0 {
				notes = append(notes, strings.Join(p.Values, "|"))
			}
			if p.Default != "" {
				notes = append(notes, "default "+p.Default)
			}
			note := ""
			if len(notes) > 0 {
				note = " (" + strings.Join(notes, "; ") + ")"
			}
			fmt.Fprintf(w, "      --%s  %s%s\n", p.Name, p.Help, note)
		}
		if k.Recovery != "" {
			fmt.Fprintf(w, "      nothing to heal: %s\n", k.Recovery)
		}
	}
}

// attachFaults finds the supervisor of the cluster in dir.
func attachFaults(ctx context.Context, dir string) (*local.Remote, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := local.ReadState(abs); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no cluster in %s (no %s); start one with faultline cluster up --dir %s", abs, local.StateFile, dir)
	}
	return local.Attach(ctx, abs)
}

// undoCommand is the command line that heals rec.
func undoCommand(dir string, rec faultRecord) string {
	parts := []string{"faultline", "fault", "heal", "--cluster-dir", shellWord(dir), rec.Kind}
	for _, name := range slices.Sorted(maps.Keys(rec.Target)) {
		parts = append(parts, "--"+name, shellWord(rec.Target[name]))
	}
	return strings.Join(parts, " ")
}

// clock shows a time of day to the millisecond, in local time.
func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitNotRun
	}
	return exitPass
}
