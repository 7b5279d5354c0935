package faults

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// Kind is a fault kind that can be built from named string parameters, as a
// person at a terminal gives them (`faultline fault inject KIND --node
// node-1`). Kinds lists every one.
type Kind struct {
	Name string
	Help string
	// Params are the kind's parameters, in the order help shows them.
	Params []Param
	// Target names the parameters that say what a fault hits: two faults
	// of a kind with the same target cannot both be injected.
	Target []string
	// Recovery is set for the kinds whose damage nothing undoes: Heal at
	// most waits for the system's own recovery, which it describes. Such
	// a fault does not stay injected.
	Recovery string
	build    func(env Env, p map[string]string) (Fault, error)
}

// Param is one parameter of a Kind.
type Param struct {
	Name     string
	Help     string
	Default  string   // "" with Required false: optional, no default
	Required bool     // no default: the caller must give it
	Values   []string // the accepted values, when they are a fixed set
}

// Env is what the kinds act on: the cluster driver and the control
// plane's API (for the replica kinds).
type Env struct {
	Driver cluster.Driver
	API    interface {
		ReplicaDeleter
		ReplicaGetter
		EngineLister
	}
}

// EngineLister lists the engines of a volume through the control plane's
// API; *engine/client.Client is one.
type EngineLister interface {
	ListEngines(ctx context.Context, volume string) ([]api.Engine, error)
}

var _ EngineLister = (*client.Client)(nil)

// OneShot reports whether a fault of this kind stays injected (false) or
// is done once Inject returns (true).
func (k Kind) OneShot() bool { return k.Recovery != "" }

// ErrUnknownKind is returned by LookupKind for a name Kinds does not have.
var ErrUnknownKind = errors.New("unknown fault kind")

// LookupKind returns the kind called name.
func LookupKind(name string) (Kind, error) {
	for _, k := range Kinds() {
		if k.Name == name {
			return k, nil
		}
	}
	names := make([]string, 0, 10)
	for _, k := range Kinds() {
		names = append(names, k.Name)
	}
	return Kind{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownKind, name, strings.Join(names, ", "))
}

// Normalize checks params against the kind (no unknown parameter, every
// required one given, values from the accepted set) and returns them with
// the defaults filled in.
func (k Kind) Normalize(params map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for name, v := range params {
		p, ok := k.param(name)
		if !ok {
			return nil, fmt.Errorf("%s: unknown parameter %q (want %s)", k.Name, name, strings.Join(k.paramNames(), ", "))
		}
		if len(p.Values) > 0 && !slices.Contains(p.Values, v) {
			return nil, fmt.Errorf("%s: %s %q: want one of %s", k.Name, name, v, strings.Join(p.Values, ", "))
		}
		out[name] = v
	}
	for _, p := range k.Params {
		if _, ok := out[p.Name]; ok {
			continue
		}
		if p.Required {
			return nil, fmt.Errorf("%s: parameter %s is required", k.Name, p.Name)
		}
		if p.Default != "" {
			out[p.Name] = p.Default
		}
	}
	return out, nil
}

// Build normalizes params and returns the fault they describe, checking
// the node names against the cluster.
func (k Kind) Build(env Env, params map[string]string) (Fault, error) {
	p, err := k.Normalize(params)
	if err != nil {
		return nil, err
	}
	return k.build(env, p)
}

// TargetOf is the part of normalized params that says what the fault hits.
func (k Kind) TargetOf(params map[string]string) map[string]string {
	t := map[string]string{}
	for _, name := range k.Target {
		if v, ok := params[name]; ok {
			t[name] = v
		}
	}
	return t
}

func (k Kind) param(name string) (Param, bool) {
	for _, p := range k.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

func (k Kind) paramNames() []string {
	var names []string
	for _, p := range k.Params {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// Kinds returns every kind, in the order help lists them.
func Kinds() []Kind {
	node := Param{Name: "node", Help: "the node", Required: true}
	return []Kind{
		{
			Name: "node-stop", Help: "kill every process of a node (SIGKILL); heal starts it again",
			Params: []Param{node}, Target: []string{"node"},
			build: func(env Env, p map[string]string) (Fault, error) {
				if err := checkNode(env.Driver, p["node"]); err != nil {
					return nil, err
				}
				return NodeStop(env.Driver, p["node"]), nil
			},
		},
		{
			Name: "instance-manager-delete", Help: "kill a node's instance manager as a pod deletion would",
			Params: []Param{node}, Target: []string{"node"},
			Recovery: "the cluster's supervisor starts a new instance manager",
			build: func(env Env, p map[string]string) (Fault, error) {
				if err := checkNode(env.Driver, p["node"]); err != nil {
					return nil, err
				}
				return InstanceManagerDelete(env.Driver, p["node"]), nil
			},
		},
		{
			Name: "engine-crash", Help: "SIGKILL one engine instance; with upgrade-node, inside its live upgrade's window (start the upgrade after inject)",
			Params: []Param{
				{Name: "volume", Help: "crash the engine serving this attached volume"},
				{Name: "engine", Help: "or name the engine instance (GET /v1/engines lists them)"},
				{Name: "upgrade-node", Help: "crash the engine during its live upgrade on this node: inject waits for the upgrade's window"},
				{Name: "window", Help: "with upgrade-node: how long to watch for the window before killing the only engine process", Default: "2m"},
			},
			Target:   []string{"volume", "engine"},
			Recovery: "the control plane starts the engine again",
			build: func(env Env, p map[string]string) (Fault, error) {
				if (p["engine"] == "") == (p["volume"] == "") {
					return nil, errors.New("engine-crash: give --volume or --engine (one of them)")
				}
				if p["volume"] != "" {
					if env.API == nil {
						return nil, errors.New("engine-crash: no manager API to find the volume's engine")
					}
					return &volumeEngineCrash{env: env, p: p}, nil
				}
				return engineCrashFor(env, p, p["engine"])
			},
		},
		{
			Name: "replica-delete", Help: "delete a replica through the manager's API",
			Params:   []Param{{Name: "replica", Help: "the replica (refengine replica list shows them)", Required: true}},
			Target:   []string{"replica"},
			Recovery: "the control plane schedules and rebuilds a replacement",
			build: func(env Env, p map[string]string) (Fault, error) {
				if env.API == nil {
					return nil, errors.New("replica-delete: no manager API")
				}
				return ReplicaDelete(env.API, p["replica"]), nil
			},
		},
		{
			Name: "replica-crash", Help: "stop a replica's NBD exports inside its live instance manager (the v2 replica crash)",
			Params:   []Param{{Name: "replica", Help: "the replica (refengine replica list shows them)", Required: true}},
			Target:   []string{"replica"},
			Recovery: "the engine marks the replica ERR and the control plane replaces or restarts it",
			build: func(env Env, p map[string]string) (Fault, error) {
				if env.API == nil {
					return nil, errors.New("replica-crash: no manager API")
				}
				return ReplicaCrash(env.Driver, env.API, p["replica"]), nil
			},
		},
		{
			Name: "manager-restart", Help: "SIGKILL the manager in the middle of whatever it does",
			Recovery: "the cluster's supervisor starts a new manager on the same state and address",
			build: func(env Env, p map[string]string) (Fault, error) {
				return ManagerRestart(env.Driver), nil
			},
		},
		{
			Name: "network-partition", Help: "lose the packets between two nodes, or a node and the manager, until healed (nftables; needs root)",
			Params: []Param{
				{Name: "a", Help: "one side: a node or " + cluster.ManagerEndpoint, Required: true},
				{Name: "b", Help: "the other side: a node or " + cluster.ManagerEndpoint, Required: true},
				{Name: "direction", Help: "both, or a-to-b to lose a's packets to b only", Default: string(cluster.Both), Values: []string{string(cluster.Both), string(cluster.AToB)}},
				{Name: "mode", Help: "drop (connections time out) or reject (TCP resets)", Default: "drop", Values: []string{"drop", "reject"}},
			},
			Target: []string{"a", "b", "direction"},
			build: func(env Env, p map[string]string) (Fault, error) {
				for _, side := range []string{p["a"], p["b"]} {
					if side == cluster.ManagerEndpoint {
						continue
					}
					if err := checkNode(env.Driver, side); err != nil {
						return nil, err
					}
				}
				part := cluster.Partition{A: p["a"], B: p["b"], Direction: cluster.Direction(p["direction"]), Reject: p["mode"] == "reject"}
				if err := part.Validate(); err != nil {
					return nil, err
				}
				return NetworkPartition(env.Driver, part), nil
			},
		},
		{
			Name: "disk-error", Help: "make a node's disk fail I/O through its error bdev, until healed",
			Params: []Param{
				node,
				{Name: "disk", Help: "the node's disk (default: its first)"},
				{Name: "io-type", Help: "which requests fail", Default: "write", Values: []string{"read", "write", "unmap", "flush", "all"}},
				{Name: "count", Help: "how many requests fail; 0: every one until healed", Default: "0"},
				{Name: "error", Help: "failure (EIO), corrupt_data (a flipped byte) or nomem", Default: "failure", Values: []string{"failure", "corrupt_data", "nomem"}},
			},
			Target: []string{"node", "disk"},
			build: func(env Env, p map[string]string) (Fault, error) {
				if err := checkNode(env.Driver, p["node"]); err != nil {
					return nil, err
				}
				count, err := strconv.ParseUint(p["count"], 10, 32)
				if err != nil {
					return nil, fmt.Errorf("disk-error: count %q: want a number of requests", p["count"])
				}
				return DiskError(env.Driver, p["node"], DiskErrorOptions{Disk: p["disk"], IOType: p["io-type"], Count: uint32(count), Kind: p["error"]}), nil
			},
		},
		{
			Name: "pause", Help: "stall a node's processes (SIGSTOP) without killing them; heal resumes them",
			Params: []Param{node}, Target: []string{"node"},
			build: func(env Env, p map[string]string) (Fault, error) {
				if err := checkNode(env.Driver, p["node"]); err != nil {
					return nil, err
				}
				return Pause(env.Driver, p["node"], 0), nil
			},
		},
	}
}

// checkNode fails with the cluster's node names when it has no node name.
func checkNode(d cluster.Driver, name string) error {
	var names []string
	for _, n := range d.Nodes() {
		if n.Name == name {
			return nil
		}
		names = append(names, n.Name)
	}
	return fmt.Errorf("node %q: %w (the cluster has %s)", name, cluster.ErrUnknownNode, strings.Join(names, ", "))
}

func positiveDuration(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive duration such as 90s", name, s)
	}
	return d, nil
}

// engineCrashFor is the engine-crash of engine that p asks for: plain, or
// inside its live upgrade's window on p's upgrade-node.
func engineCrashFor(env Env, p map[string]string, engine string) (Fault, error) {
	if p["upgrade-node"] == "" {
		return EngineCrash(env.Driver, engine), nil
	}
	if err := checkNode(env.Driver, p["upgrade-node"]); err != nil {
		return nil, err
	}
	window, err := positiveDuration("window", p["window"])
	if err != nil {
		return nil, err
	}
	return armedUpgradeCrash{EngineCrashDuringUpgrade(env.Driver, engine, p["upgrade-node"], window)}, nil
}

// volumeEngineCrash crashes the engine that serves a volume, looked up
// when it is injected.
type volumeEngineCrash struct {
	env Env
	p   map[string]string
}

func (f *volumeEngineCrash) Name() string              { return "engine-crash" }
func (f *volumeEngineCrash) Params() map[string]string { return f.p }
func (f *volumeEngineCrash) Heal(ctx context.Context) error {
	return nil
}

func (f *volumeEngineCrash) Inject(ctx context.Context) error {
	vol := f.p["volume"]
	engines, err := f.env.API.ListEngines(ctx, vol)
	if err != nil {
		return fmt.Errorf("engine crash: engines of volume %s: %w", vol, err)
	}
	if len(engines) == 0 {
		return fmt.Errorf("engine crash: volume %q has no engine: is it attached? (refengine volume list)", vol)
	}
	crash, err := engineCrashFor(f.env, f.p, engines[0].Name)
	if err != nil {
		return err
	}
	return crash.Inject(ctx)
}

// armedUpgradeCrash is an UpgradeCrash whose Inject arms it first: the
// person at the terminal injects, then starts the upgrade elsewhere.
type armedUpgradeCrash struct{ *UpgradeCrash }

func (f armedUpgradeCrash) Inject(ctx context.Context) error {
	if err := f.Arm(ctx); err != nil {
		return err
	}
	return f.UpgradeCrash.Inject(ctx)
}

// FormatParams renders params as sorted key=value pairs.
func FormatParams(params map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		parts = append(parts, k+"="+params[k])
	}
	return strings.Join(parts, " ")
}
