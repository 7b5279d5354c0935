package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/internal/gobuild"
	"github.com/faultline/faultline/internal/testtool"
)

// TestScenarios runs the same specs as `faultline run`, configured from
// FAULTLINE_* environment variables (see FromEnv) and Ginkgo's own
// -ginkgo.* flags (label filter, focus, ...). Without FAULTLINE_REFENGINE it
// builds refengine from this module. While refengine cannot yet run a
// cluster, the suite is skipped with the reason.
func TestScenarios(t *testing.T) {
	gomega.RegisterFailHandler(ginkgo.Fail)
	cfg, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Refengine == "" && cfg.ClusterDir == "" {
		cfg.Refengine = testtool.Build(t, gobuild.Refengine)
	}
	if cfg.OutDir == "" {
		cfg.OutDir = filepath.Join(t.TempDir(), "report")
	}
	cfg.SkipWithoutCluster = os.Getenv("CI") != "true"
	cfg.Progress = testWriter{t}
	env := Register(&cfg)
	sc, rc := ginkgo.GinkgoConfiguration()
	if sc.RandomSeed == 0 || os.Getenv("FAULTLINE_SEED") != "" {
		sc.RandomSeed = env.Seed
	}
	// go test (make unit) runs the smoke scenario; the seed and integrity
	// scenarios take minutes and run from faultline (make e2e-local) or
	// with -ginkgo.label-filter.
	if sc.LabelFilter == "" && len(sc.FocusStrings) == 0 {
		sc.LabelFilter = "smoke"
	}
	// The soak runs only when a label filter names it.
	sc.LabelFilter = LabelFilter(sc.LabelFilter, "")
	ginkgo.RunSpecs(t, "faultline scenarios", sc, rc)
	t.Logf("report directory: %s", cfg.OutDir)
	if err := env.SetupError(); err != nil {
		if cfg.SkipWithoutCluster && (errors.Is(err, local.ErrNoManager) || errors.Is(err, local.ErrNoNode)) {
			t.Skipf("scenarios skipped: refengine cannot run a cluster yet: %v", err)
		}
		t.Errorf("cluster setup: %v", err)
	}
}

// testWriter sends progress lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(fmt.Sprintf("%s", p[:len(p)-min(1, len(p))]))
	return len(p), nil
}
