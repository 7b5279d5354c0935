package engineproc

import (
	"github.com/faultline/faultline/internal/testtool"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	testtool.IdleIfSleeper()
	os.Exit(m.Run())
}

// sleeper starts this test binary idling with argv[1:] = args.
func sleeper(t *testing.T, args ...string) *exec.Cmd { return testtool.Sleeper(t, args...) }

func TestNameFromCmdline(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/refengine", "engine", "--name", "vol-e-0", "--size", "1M"}, "vol-e-0"},
		{[]string{"/refengine", "engine", "--size", "1M", "--name=vol-e-1"}, "vol-e-1"},
		{[]string{"refengine", "engine", "-name", "vol-e-2"}, "vol-e-2"},
		{[]string{"refengine", "engine", "-name=vol-e-3"}, "vol-e-3"},
		{[]string{"refengine", "engine", "--name", "a", "--name", "b"}, "b"},
		{[]string{"refengine", "engine", "--standby", "--name", "vol-e-4"}, "vol-e-4"},
		{[]string{"refengine", "engine", "--name"}, ""},
		{[]string{"refengine", "engine", "--", "--name", "x"}, ""},
		{[]string{"refengine", "engine", "--names", "x"}, ""},
		{[]string{"refengine", "node", "--name", "node-1"}, ""},
		{[]string{"refengine", "kill-engine", "--name", "vol-e-0"}, ""},
		{[]string{"refengine", "engine-image", "install", "--name", "x"}, ""},
		{[]string{"engine", "--name", "x"}, ""}, // argv[0] is the executable
		{[]string{"refengine"}, ""},
		{nil, ""},
	} {
		if got := NameFromCmdline(tc.args); got != tc.want {
			t.Errorf("NameFromCmdline(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestFindProcesses(t *testing.T) {
	eng := sleeper(t, "engine", "--name", "find-e-0")
	other := sleeper(t, "engine", "--name=find-e-1")
	sleeper(t, "node", "--name", "find-e-0") // a node of that name is no engine

	pids, err := FindProcesses("find-e-0")
	if err != nil || !slices.Equal(pids, []int{eng.Process.Pid}) {
		t.Fatalf("FindProcesses(find-e-0) = %v, %v; want [%d]", pids, err, eng.Process.Pid)
	}
	if got := NameOfProcess(other.Process.Pid); got != "find-e-1" {
		t.Errorf("NameOfProcess(--name= form) = %q", got)
	}
	if pids, err := FindProcesses("find-missing-e-0"); err != nil || len(pids) != 0 {
		t.Errorf("FindProcesses(missing) = %v, %v; want none", pids, err)
	}

	// A killed engine that is not reaped yet is a zombie: no longer found.
	if err := eng.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := FindProcesses("find-e-0")
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed engine still found: %v", pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := FindProcesses(""); err == nil {
		t.Error("FindProcesses(\"\") succeeded")
	}
}
