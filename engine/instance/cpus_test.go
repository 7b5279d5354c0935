package instance_test

import (
	"context"
	"regexp"
	"testing"
	"time"
)

var engineConnectedCPUs = regexp.MustCompile(`msg="engine connected".* cpus=(\d+)`)

// TestEngineRunsOnNodeCPUs attaches a volume on a node started with
// --cpus 3 and reads the GOMAXPROCS the engine process's runtime uses
// back from its "engine connected" line, which it writes to the node's
// stderr: the node's CPU budget must reach the engines it starts. Three is
// neither the default budget nor, on a 2-CPU machine, what the runtime
// would pick on its own.
func TestEngineRunsOnNodeCPUs(t *testing.T) {
	cl := newClusterWith(t, clusterOptions{nodes: 1, nodeArgs: []string{"--cpus", "3"}})
	cl.createVolume("cpus", 1)
	cl.attach("cpus", "n1")
	var got string
	cl.waitFor("the engine's connected line", 20*time.Second, func(context.Context) (bool, string) {
		m := engineConnectedCPUs.FindStringSubmatch(cl.nodes[0].logs())
		if m == nil {
			return false, "no engine connected line in the node's log yet"
		}
		got = m[1]
		return true, ""
	})
	if got != "3" {
		t.Fatalf("engine connected with cpus=%s, want the node's 3", got)
	}
}
