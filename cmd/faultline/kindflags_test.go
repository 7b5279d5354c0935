package main

import (
	"flag"
	"io"
	"reflect"
	"testing"

	"github.com/faultline/faultline/cluster/kind"
)

// TestKindRunArgsRoundTrip: the flags mutation hands each child run name the
// same kind cluster and executor when parsed back by the run's flags.
func TestKindRunArgsRoundTrip(t *testing.T) {
	want := kind.Config{Name: "fl", NodeImage: "faultline/kind-node:v1", KubernetesVersion: "v1.34.4",
		RefengineImage: "faultline/refengine:0.1.0-x", DataDir: "/var/tmp/k", ChaosExecutor: kind.ExecutorNative, Kind: "/usr/bin/kind"}
	var got kind.Config
	var cluster string
	var keep bool
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cluster, "cluster", "local", "")
	fs.BoolVar(&keep, "keep-cluster", false, "")
	kindFlags(fs, &got)
	if err := fs.Parse(kindRunArgs(want)); err != nil {
		t.Fatal(err)
	}
	if cluster != "kind" || !keep || !reflect.DeepEqual(got, want) {
		t.Errorf("parsed cluster=%s keep=%t %+v, want kind, kept, %+v", cluster, keep, got, want)
	}
}

// TestReproduceKindRun: the command a kind run prints to reproduce it runs
// on kind again, with the same images and executor.
func TestReproduceKindRun(t *testing.T) {
	f := runFlags{nodes: 3, cluster: "kind", scenario: "instance-manager-restart-loop",
		kind: kind.Config{NodeImage: "faultline/kind-node:v1", RefengineImage: "faultline/refengine:0.1.0-x", ChaosExecutor: kind.ExecutorChaosMesh}}
	want := "faultline run --seed 9 --cluster kind --kind-node-image 'faultline/kind-node:v1' --refengine-image 'faultline/refengine:0.1.0-x' --chaos-executor chaos-mesh --scenario instance-manager-restart-loop --restore-rate-limit 0" // zero-valued params say so
	if got := reproduceRun(f, 9); got != want {
		t.Errorf("reproduce:\n got %s\nwant %s", got, want)
	}
}
