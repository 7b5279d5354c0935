package testtool

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/faultline/faultline/internal/gobuild"
)

// Main is the body of a TestMain whose tests run a binary built once for
// the package: it builds pkg into a temporary directory, stores the path in
// *bin, runs the tests and removes the directory. Under -short nothing is
// built and *bin stays empty, so the tests that need it skip. The result
// is the exit code for os.Exit.
func Main(m *testing.M, pkg string, bin *string) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	path, remove, err := gobuild.Temp(context.Background(), pkg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	*bin = path
	return m.Run()
}
