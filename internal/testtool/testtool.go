// Package testtool finds the third-party programs that interop tests drive
// (fio, nbdinfo, qemu-img, nbdkit, chromium). Outside CI a missing program
// skips the test with the Debian package to install; under CI=true it fails,
// because .ci/run installs every one of them and a silent skip would hide a
// broken install step.
package testtool

import (
	"os"
	"os/exec"
	"strings"
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
	skipOrFail(t, program+" not found: install the Debian package "+debianPackage+" (apt-get install "+debianPackage+")")
	return ""
}

// RequireFioNBD returns fio's path, or skips (fails under CI=true) the test
// when fio is missing or was built without its nbd ioengine.
func RequireFioNBD(t testing.TB) string {
	t.Helper()
	fio := Require(t, "fio", "fio")
	out, err := exec.Command(fio, "--enghelp").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\tnbd\n") {
		skipOrFail(t, "fio was built without the nbd ioengine (Debian package fio with libnbd)")
	}
	return fio
}

// skipOrFail skips the test, or fails it under CI=true.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
