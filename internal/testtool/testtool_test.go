package testtool

import (
	"os/exec"
	"testing"
)

func TestRequireFindsShell(t *testing.T) {
	want, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	if got := Require(t, "sh", "dash"); got != want {
		t.Fatalf("Require(sh) = %q, want %q", got, want)
	}
}

func TestRequireMissingSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	ran := false
	t.Run("missing", func(t *testing.T) {
		defer func() { ran = true }()
		Require(t, "faultline-no-such-program", "nothing")
		t.Error("Require returned for a missing program")
	})
	if !ran {
		t.Fatal("subtest did not run")
	}
}

func TestRefengineFromEnv(t *testing.T) {
	t.Setenv("FAULTLINE_REFENGINE", "/opt/refengine-under-test")
	if got := Refengine(t); got != "/opt/refengine-under-test" {
		t.Fatalf("Refengine = %q, want $FAULTLINE_REFENGINE", got)
	}
}

func TestRequireFioNBD(t *testing.T) {
	fio := RequireFioNBD(t)
	if want, _ := exec.LookPath("fio"); fio != want {
		t.Fatalf("RequireFioNBD = %q, want %q", fio, want)
	}
}
