package main

import (
	"flag"
	"os"

	"github.com/faultline/faultline/cluster/kind"
)

// kindFlags registers the kind driver's flags (used with --cluster kind).
func kindFlags(fs *flag.FlagSet, c *kind.Config) {
	fs.StringVar(&c.Name, "kind-name", "faultline", "kind: cluster `NAME`; an existing cluster of that name is reused and refengine deployed afresh on it")
	fs.StringVar(&c.NodeImage, "kind-node-image", os.Getenv("FAULTLINE_KIND_IMAGE"), "kind: node `IMAGE` (env FAULTLINE_KIND_IMAGE; `make kind-node-image` builds one without a registry)")
	fs.StringVar(&c.KubernetesVersion, "kubernetes-version", "v1.34.4", "kind: Kubernetes `VERSION` of the node image; selects the kind-config/ file")
	fs.StringVar(&c.RefengineImage, "refengine-image", os.Getenv("FAULTLINE_REFENGINE_IMAGE"), "kind: refengine container `IMAGE:TAG` in the local Docker (env FAULTLINE_REFENGINE_IMAGE; `make images` builds it)")
	fs.StringVar(&c.DataDir, "kind-data-dir", "/var/tmp/faultline-kind", "kind: host `DIR` for node disks, manager state and pod logs (a subdirectory per cluster)")
	fs.StringVar(&c.ChaosExecutor, "chaos-executor", kind.ExecutorAuto, "kind: who carries out the faults that are Chaos Mesh objects (instance-manager deletion, manager restart): auto (the Chaos Mesh on the cluster when there is one, else faultline), chaos-mesh (required), native (faultline, through the Kubernetes API)")
	fs.StringVar(&c.Kind, "kind", "", "kind: the kind `BINARY` (default: kind on PATH, else go install sigs.k8s.io/kind@"+kind.KindVersion+")")
}

// kindRunArgs are the flags that make a child `faultline run` use the kind cluster c describes;
// the cluster is kept, so the next run reuses it (each run deploys refengine afresh).
func kindRunArgs(c kind.Config) []string {
	args := []string{"--cluster", "kind", "--keep-cluster", "--kind-name", c.Name, "--kind-node-image", c.NodeImage,
		"--kubernetes-version", c.KubernetesVersion, "--refengine-image", c.RefengineImage, "--kind-data-dir", c.DataDir,
		"--chaos-executor", c.ChaosExecutor}
	if c.Kind != "" {
		args = append(args, "--kind", c.Kind)
	}
	return args
}
