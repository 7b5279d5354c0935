package testtool

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/internal/gobuild"
)

// Build builds pkg into the test's temporary directory and returns the
// binary's path, failing the test if it does not build.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if err := gobuild.Build(t.Context(), pkg, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Refengine returns $FAULTLINE_REFENGINE when it names a binary (the one
// under test in CI), or else builds refengine from this module.
func Refengine(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FAULTLINE_REFENGINE"); p != "" {
		return p
	}
	return Build(t, gobuild.Refengine)
}
