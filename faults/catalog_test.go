package faults

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
)

// nodesOnly is a cluster.Driver that knows its nodes and nothing else:
// Build only looks names up.
type nodesOnly struct {
	cluster.Driver
	nodes []cluster.Node
}

func (d nodesOnly) Nodes() []cluster.Node { return d.nodes }

func TestKindBuild(t *testing.T) {
	env := Env{Driver: nodesOnly{nodes: []cluster.Node{{Name: "node-1"}, {Name: "node-2"}}}}
	tests := []struct {
		kind    string
		params  map[string]string
		want    map[string]string // normalized params, when it builds
		wantErr string
	}{
		{"node-stop", map[string]string{"node": "node-1"}, map[string]string{"node": "node-1"}, ""},
		{"node-stop", nil, nil, "parameter node is required"},
		{"node-stop", map[string]string{"node": "node-9"}, nil, `node "node-9": unknown node (the cluster has node-1, node-2)`},
		{"node-stop", map[string]string{"node": "node-1", "disk": "d"}, nil, `unknown parameter "disk" (want node)`},
		{"manager-restart", map[string]string{"node": "node-1"}, nil, `unknown parameter "node" (want none)`},
		{"network-partition", map[string]string{"a": "node-1", "b": "manager"},
			map[string]string{"a": "node-1", "b": "manager", "direction": "both", "mode": "drop"}, ""},
		{"network-partition", map[string]string{"a": "node-1", "b": "node-1"}, nil, "partition"},
		{"network-partition", map[string]string{"a": "node-1", "b": "node-2", "mode": "lose"}, nil, `mode "lose": want one of drop, reject`},
		{"network-partition", map[string]string{"a": "node-1", "b": "node-3"}, nil, `node "node-3": unknown node`},
		{"disk-error", map[string]string{"node": "node-2", "io-type": "read", "count": "5"},
			map[string]string{"node": "node-2", "io-type": "read", "count": "5", "error": "failure"}, ""},
		{"disk-error", map[string]string{"node": "node-2", "count": "many"}, nil, `count "many"`},
		{"engine-crash", map[string]string{"engine": "e", "volume": "v"}, nil, "give --volume or --engine"},
		{"engine-crash", map[string]string{"engine": "e", "upgrade-node": "node-7"}, nil, `node "node-7": unknown node`},
		{"engine-crash", map[string]string{"engine": "e", "upgrade-node": "node-1", "window": "-1s"}, nil, `window "-1s"`},
		{"engine-crash", map[string]string{"engine": "e"}, map[string]string{"engine": "e", "window": "2m"}, ""},
		{"pause", map[string]string{"node": "node-2"}, map[string]string{"node": "node-2"}, ""},
		{"replica-delete", map[string]string{"replica": "r"}, nil, "no manager API"},
	}
	for _, tc := range tests {
		t.Run(tc.kind+" "+FormatParams(tc.params), func(t *testing.T) {
			k, err := LookupKind(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			f, err := k.Build(env, tc.params)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Build: error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if f == nil {
				t.Fatal("Build: no fault")
			}
			got, _ := k.Normalize(tc.params)
			if !maps.Equal(got, tc.want) {
				t.Errorf("Normalize: %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLookupKind(t *testing.T) {
	if _, err := LookupKind("node-explode"); !errors.Is(err, ErrUnknownKind) || !strings.Contains(err.Error(), "node-stop") {
		t.Errorf("unknown kind: %v, want ErrUnknownKind listing the kinds", err)
	}
	// Every kind the soak draws from can be injected by hand.
	for _, name := range []string{"node-stop", "instance-manager-delete", "engine-crash", "replica-delete", "replica-crash", "pause", "manager-restart", "disk-error", "network-partition"} {
		if _, err := LookupKind(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestVolumeEngineCrashUnattached: a volume without an engine is named in
// the error.
func TestVolumeEngineCrashUnattached(t *testing.T) {
	k, _ := LookupKind("engine-crash")
	f, err := k.Build(Env{Driver: nodesOnly{}, API: noEngines{}}, map[string]string{"volume": "vol-a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), `volume "vol-a" has no engine`) {
		t.Errorf("Inject: %v", err)
	}
}

// noEngines is a manager API with no engines: the volume is not attached.
type noEngines struct{}

func (noEngines) ListEngines(context.Context, string) ([]api.Engine, error) { return nil, nil }
func (noEngines) GetReplica(context.Context, string) (api.Replica, error) {
	return api.Replica{}, errors.New("not used")
}
func (noEngines) DeleteReplica(context.Context, string) (api.Replica, error) {
	return api.Replica{}, errors.New("not used")
}
