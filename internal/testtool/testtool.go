// Package testtool finds the third-party programs that interop tests drive
// (fio, nbdinfo, qemu-img, nbdkit, chromium). Outside CI a missing program
// skips the test with the Debian package to install; under CI=true it fails,
// because .ci/run installs every one of them and a silent skip would hide a
// broken install step.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of program, or skips (fails under CI=true) the
// test, naming the Debian package that provides it.
func Require(t testing.TB, program, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := program + " not found: install the Debian package " + debianPackage + " (apt-get install " + debianPackage + ")"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
