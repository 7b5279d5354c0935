package gobuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTempBuildsAndRemoves(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool (skipped with -short)")
	}
	bin, remove, err := Temp(t.Context(), Refengine)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("built binary %s: %v", bin, err)
	}
	remove()
	if _, err := os.Stat(filepath.Dir(bin)); !os.IsNotExist(err) {
		t.Errorf("%s still there after remove: %v", filepath.Dir(bin), err)
	}
}

func TestBuildReportsCompilerError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool (skipped with -short)")
	}
	err := Build(t.Context(), "github.com/faultline/faultline/no/such/package", filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "no/such/package") {
		t.Fatalf("Build of a missing package: %v", err)
	}
}
