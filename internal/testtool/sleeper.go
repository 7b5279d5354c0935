package testtool

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// sleeperEnv marks a test binary started by Sleeper.
const sleeperEnv = "FAULTLINE_TEST_SLEEPER"

// IdleIfSleeper makes a test binary that Sleeper started idle for a minute and exit instead of
// running its tests. Call it first in TestMain.
func IdleIfSleeper() {
	if os.Getenv(sleeperEnv) == "1" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
}

// Sleeper starts this test binary idling with argv[1:] = args, so a test has a real process with
// a chosen command line (an engine's, say) to find and kill. It is killed when the test ends. The
// package's TestMain must call IdleIfSleeper.
func Sleeper(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), sleeperEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}
