package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/scenarios"
)

const clusterSynopsis = `cluster up|down|status|env [flags]

  up      start a local cluster in --dir. By default it starts a detached
          supervisor process (faultline cluster up --foreground, in its own
          session, logging to DIR/logs/supervisor.log) and returns once every
          process answers; the cluster keeps running after this command exits.
          With --foreground it runs in this terminal until Ctrl-C.
          A directory used before keeps its manager URL and node ports
          (and its credential, DIR/cluster.token); up fails, naming the
          port, when another process holds one of them. Up writes DIR/env
          (mode 0600), the lines cluster env prints.
  down    stop the cluster in --dir and wait until no process is left
  status  show the processes of the cluster in --dir with the nodes'
          addresses (rpc, nbd, socket); --output json for scripts
  env     print shell lines that point refengine at the cluster in --dir:
          eval $(faultline cluster env --dir DIR); refengine volume list

Use the cluster from scenarios with: faultline run --cluster-dir DIR
Inject faults into it by hand with: faultline fault --help`

func clusterCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "usage: faultline %s\n", clusterSynopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return exitPass
		}
		return exitNotRun
	}
	switch args[0] {
	case "up":
		return clusterUp(args[1:], stdout, stderr)
	case "down":
		return clusterDown(args[1:], stdout, stderr)
	case "status":
		return clusterStatus(args[1:], stdout, stderr)
	case "env":
		return clusterEnv(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "faultline cluster: unknown subcommand %q (want up, down, status or env)\n", args[0])
	return exitNotRun
}

func clusterUp(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cluster up", "cluster up [--dir DIR] [flags]\n\nStarts a local cluster; see faultline cluster --help.", stderr)
	dir := fs.String("dir", "runs/cluster", "run directory of the cluster (state, logs, disks)")
	nodes := fs.Int("nodes", 3, "number of storage nodes")
	refengine := fs.String("refengine", "", "refengine binary (default $FAULTLINE_REFENGINE, next to faultline, or PATH)")
	defects := fs.String("defects", "", "comma-separated refengine defect switches")
	diskSize := new(int64(1 << 30))
	diskSizeFlag(fs, diskSize)
	disks := fs.Int("disks-per-node", 1, "disks of every node, 1..8")
	foreground := fs.Bool("foreground", false, "run in this terminal until interrupted instead of detaching")
	var params runParams
	params.restoreRateFlag(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faultline cluster up: unexpected argument %q\n", fs.Arg(0))
		return exitNotRun
	}
	if err := params.check(); err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
		return exitNotRun
	}
	if *nodes < 1 || *nodes > 200 {
		fmt.Fprintf(stderr, "faultline cluster up: --nodes %d: want 1..200\n", *nodes)
		return exitNotRun
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
		return exitNotRun
	}
	if st, err := local.ReadState(abs); err == nil && st.Up && local.Alive(st.Supervisor) {
		fmt.Fprintf(stderr, "faultline cluster up: a cluster is already running in %s (supervisor pid %d); stop it with faultline cluster down --dir %s\n", abs, st.Supervisor, abs)
		return exitNotRun
	}
	if *refengine == "" {
		if *refengine, err = local.FindRefengine(); err != nil {
			fmt.Fprintln(stderr, "faultline cluster up:", err)
			return exitNotRun
		}
	}
	if err := os.MkdirAll(filepath.Join(abs, "logs"), 0o755); err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
		return exitNotRun
	}
	if *disks < 1 || *disks > 8 {
		fmt.Fprintf(stderr, "faultline cluster up: --disks-per-node %d: want 1..8\n", *disks)
		return exitNotRun
	}
	cfg := local.Config{Dir: abs, StablePorts: true, Refengine: *refengine, Nodes: *nodes, DiskSize: *diskSize, DisksPerNode: *disks, Defects: scenarios.SplitList(*defects),
		RestoreRateLimit: params.restoreRate}
	if *foreground {
		return superviseForeground(cfg, stdout, stderr)
	}
	return startDetached(abs, args, stdout, stderr)
}

// startDetached re-runs `cluster up --foreground` in a new session and
// waits until its cluster.json says the cluster is up.
func startDetached(dir string, args []string, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
		return exitNotRun
	}
	logPath := filepath.Join(dir, "logs", "supervisor.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
		return exitNotRun
	}
	defer logf.Close()
	childArgs := append([]string{"cluster", "up", "--foreground"}, args...)
	childArgs = append(childArgs, "--dir", dir)
	cmd := exec.Command(exe, childArgs...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "faultline cluster up: start supervisor:", err)
		return exitNotRun
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for {
		if st, err := local.ReadState(dir); err == nil && st.Up && st.Supervisor == cmd.Process.Pid {
			fmt.Fprintf(stdout, "cluster up in %s (supervisor pid %d, log %s)\n", dir, st.Supervisor, logPath)
			printState(stdout, st)
			if path := filepath.Join(dir, envFile); fileExists(path) {
				fmt.Fprintf(stdout, "shell environment for refengine in %s: . %s or eval $(faultline cluster env --dir %s)\n", path, path, dir)
			}
			return exitPass
		}
		select {
		case err := <-exited:
			tail, _ := os.ReadFile(logPath)
			fmt.Fprintf(stderr, "faultline cluster up: supervisor exited (%v):\n%s", err, lastLines(string(tail), 30))
			return exitNotRun
		case <-deadline:
			cmd.Process.Signal(syscall.SIGTERM)
			fmt.Fprintf(stderr, "faultline cluster up: cluster not up after 2m; see %s\n", logPath)
			return exitNotRun
		case <-tick.C:
		}
	}
}

// superviseForeground runs the cluster and its control socket until a
// signal or a `down` request arrives.
func superviseForeground(cfg local.Config, stdout, stderr io.Writer) int {
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	d, err := local.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
		return exitNotRun
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Up(ctx); err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
		return exitNotRun
	}
	sock, err := local.ControlSocketPath(cfg.Dir)
	if err == nil {
		os.Remove(sock)
	}
	var l net.Listener
	if err == nil {
		l, err = net.Listen("unix", sock)
	}
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster up: control socket:", err)
		d.Down(context.Background())
		return exitNotRun
	}
	defer os.Remove(sock)
	srvCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fc, err := newFaultControl(srvCtx, d, cfg.Logger)
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster up: fault control:", err)
		d.Down(context.Background())
		return exitNotRun
	}
	go local.ServeControl(srvCtx, d, l, cancel, fc.routes)
	if err := d.SetSupervisor(os.Getpid(), sock); err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
	}
	fmt.Fprintf(stdout, "cluster up in %s: manager %s; Ctrl-C or faultline cluster down --dir %s stops it\n", cfg.Dir, d.ManagerURL(), cfg.Dir)
	if path, err := writeEnvFile(cfg.Dir); err != nil {
		fmt.Fprintln(stderr, "faultline cluster up:", err)
	} else {
		fmt.Fprintf(stdout, "shell environment for refengine in %s: . %s or eval $(faultline cluster env --dir %s)\n", path, path, cfg.Dir)
	}
	<-srvCtx.Done()
	fmt.Fprintln(stdout, "stopping the cluster")
	dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
	defer dcancel()
	if err := d.Down(dctx); err != nil {
		fmt.Fprintln(stderr, "faultline cluster down:", err)
		return exitFail
	}
	d.SetSupervisor(0, "")
	return exitPass
}

func clusterDown(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cluster down", "cluster down [--dir DIR]", stderr)
	dir := fs.String("dir", "runs/cluster", "run directory of the cluster")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := local.Teardown(ctx, *dir); err != nil {
		fmt.Fprintln(stderr, "faultline cluster down:", err)
		return exitNotRun
	}
	fmt.Fprintf(stdout, "cluster in %s is down\n", *dir)
	return exitPass
}

func clusterStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cluster status", "cluster status [--dir DIR] [--output table|json]", stderr)
	dir := fs.String("dir", "runs/cluster", "run directory of the cluster")
	output := outputFlag(fs)
	asJSON := fs.Bool("json", false, "same as --output json")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := checkOutput(*output); err != nil {
		fmt.Fprintln(stderr, "faultline cluster status:", err)
		return exitNotRun
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := statusOf(ctx, *dir)
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster status:", err)
		return exitNotRun
	}
	view := statusViewOf(st, *dir)
	if *asJSON || *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(view)
		return exitPass
	}
	fmt.Fprintf(stdout, "cluster %s (%s), manager %s\n", st.Dir, st.Driver, st.ManagerURL)
	if !st.Manager.Running {
		fmt.Fprintln(stdout, "the cluster is down")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tPID\tRUNNING\tREADY\tSTOPPED\tRESTARTS\tRPC\tNBD\tSOCKET\tLOG")
	for _, n := range append([]nodeView{{ProcessStatus: st.Manager}}, view.Nodes...) {
		fmt.Fprintf(tw, "%s\t%d\t%t\t%t\t%t\t%d\t%s\t%s\t%s\t%s\n", n.Name, n.PID, n.Running, n.Ready, n.Stopped, n.Restarts,
			dash(n.RPC), dash(n.NBD), dash(n.Socket), n.Log)
	}
	tw.Flush()
	return exitPass
}

// statusView is what `cluster status` shows: the driver's status with
// each node's addresses, which cluster.json holds.
type statusView struct {
	cluster.Status
	Nodes []nodeView `json:"nodes"`
}

// nodeView is a node's process status and its addresses.
type nodeView struct {
	cluster.ProcessStatus
	RPC    string `json:"rpc,omitempty"`
	NBD    string `json:"nbd,omitempty"`
	Socket string `json:"socket,omitempty"`
}

func statusViewOf(st cluster.Status, dir string) statusView {
	addrs := map[string]cluster.Node{}
	if s, err := local.ReadState(dir); err == nil {
		for _, n := range s.Nodes {
			addrs[n.Name] = n
		}
	}
	v := statusView{Status: st, Nodes: []nodeView{}}
	for _, p := range st.Nodes {
		n := addrs[p.Name]
		v.Nodes = append(v.Nodes, nodeView{ProcessStatus: p, RPC: n.RPC, NBD: n.NBD, Socket: n.Socket})
	}
	return v
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// outputFlag declares --output table|json.
func outputFlag(fs *flag.FlagSet) *string {
	return fs.String("output", "table", "output format: table or json")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("--output %q: want table or json", o)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// statusOf asks the supervisor when there is one; otherwise it reports
// from cluster.json and the process table alone.
func statusOf(ctx context.Context, dir string) (cluster.Status, error) {
	if r, err := local.Attach(ctx, dir); err == nil {
		st, err := r.Status(ctx)
		st.Dir = dir
		return st, err
	}
	s, err := local.ReadState(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return cluster.Status{}, fmt.Errorf("no cluster in %s (no %s)", dir, local.StateFile)
		}
		return cluster.Status{}, err
	}
	st := cluster.Status{Driver: "local", Dir: dir, ManagerURL: s.ManagerURL}
	proc := func(name string, probe func() error) cluster.ProcessStatus {
		pid := s.PIDs[name]
		p := cluster.ProcessStatus{Name: name, PID: pid, Running: local.Alive(pid), Stopped: s.Stopped[name], Log: s.Logs[name]}
		p.Ready = p.Running && probe() == nil
		return p
	}
	st.Manager = proc("manager", func() error { return local.ProbeManager(ctx, s.ManagerURL) })
	for _, n := range s.Nodes {
		st.Nodes = append(st.Nodes, proc(n.Name, func() error { return local.ProbeNode(ctx, n.Socket) }))
	}
	return st, nil
}

func printState(w io.Writer, s local.State) {
	fmt.Fprintf(w, "manager %s\n", s.ManagerURL)
	for _, n := range s.Nodes {
		fmt.Fprintf(w, "%s  rpc %s  nbd %s  socket %s  pid %d\n", n.Name, n.RPC, n.NBD, n.Socket, s.PIDs[n.Name])
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
