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
