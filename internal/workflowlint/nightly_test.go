package workflowlint

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/faultline/faultline/cluster/kind"
	kindconfig "github.com/faultline/faultline/kind-config"
)

// TestNightlyFollowsTheKindDriver: nightly.yml creates the kind cluster itself (before Chaos
// Mesh) and `faultline run --cluster kind` reuses it, which works only if the workflow names the
// cluster and its host directory as the driver does and runs the same kind release; and the
// workflow reads the Kubernetes version from the Makefile, which must keep the form it parses.
func TestNightlyFollowsTheKindDriver(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(workflowsDir, "nightly.yml"))
	if err != nil {
		t.Fatal(err)
	}
	w, errs := actionlint.Parse(src)
	if len(errs) > 0 || w == nil || w.Env == nil {
		t.Fatalf("nightly.yml: no workflow-level env: %v", errs)
	}
	env := map[string]string{}
	for _, v := range w.Env.Vars {
		env[v.Name.Value] = v.Value.Value
	}
	if env["KIND_VERSION"] != kind.KindVersion {
		t.Errorf("nightly.yml installs kind %q; the driver runs %s", env["KIND_VERSION"], kind.KindVersion)
	}
	d, err := kind.New(kind.Config{NodeImage: "kindest/node:v0", RefengineImage: "refengine:v0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Join(env["KIND_DATA_DIR"], env["KIND_CLUSTER"]); got != d.Dir() {
		t.Errorf("nightly.yml creates the cluster's host directories in %q; the driver's default is %q", got, d.Dir())
	}

	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	// The workflow's sed -n 's/^KUBERNETES_VERSION *?= *//p' Makefile.
	m := regexp.MustCompile(`(?m)^KUBERNETES_VERSION *\?= *(\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no line `KUBERNETES_VERSION ?= vX.Y.Z` for nightly.yml to read")
	}
	if _, err := kindconfig.For(string(m[1])); err != nil {
		t.Errorf("Makefile's KUBERNETES_VERSION %s: %v", m[1], err)
	}
}
