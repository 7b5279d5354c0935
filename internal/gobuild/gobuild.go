// Package gobuild builds this module's commands with the go tool. Tests and
// refbench run the real refengine and faultline binaries, not in-process
// stand-ins, so each needs a fresh build of the code under test.
package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The commands other packages build.
const (
	Refengine = "github.com/faultline/faultline/cmd/refengine"
	Faultline = "github.com/faultline/faultline/cmd/faultline"
)

// Build runs `go build -o out pkg`. The current directory must be inside
// the module; the compiler's diagnostics are part of the error.
func Build(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Temp builds pkg into a new temporary directory, for a TestMain that
// builds once for the whole package. It returns the binary's path and a
// function that removes the directory.
func Temp(ctx context.Context, pkg string) (bin string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "faultline-build-")
	if err != nil {
		return "", nil, fmt.Errorf("build %s: %w", pkg, err)
	}
	remove = func() { os.RemoveAll(dir) }
	bin = filepath.Join(dir, filepath.Base(pkg))
	if err := Build(ctx, pkg, bin); err != nil {
		remove()
		return "", nil, err
	}
	return bin, remove, nil
}
