package scenarios

import (
	"regexp"
	"testing"
	"time"
)

func TestFocusFor(t *testing.T) {
	re := regexp.MustCompile(FocusFor("smoke"))
	for text, want := range map[string]bool{
		"faultline smoke":              true,
		"faultline scenarios smoke":    true,
		"faultline smoke-2":            false,
		"faultline not-smoke":          false,
		"faultline smokes":             false,
		"faultline instance-manager":   false,
		"faultline smoke.hidden":       false,
		"faultline smoke\nfaultline x": false,
	} {
		if got := re.MatchString(text); got != want {
			t.Errorf("FocusFor(smoke) on %q = %v, want %v", text, got, want)
		}
	}
	if regexp.MustCompile(FocusFor("a.b")).MatchString("faultline axb") {
		t.Error("focus does not quote regexp metacharacters")
	}
}

func TestReproduce(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Seed: 7}, "faultline run --scenario smoke --seed 7"},
		{Config{Seed: 7, Nodes: 3}, "faultline run --scenario smoke --seed 7"},
		{Config{Seed: 7, Nodes: 2, Iterations: 50, Defects: []string{"a", "b"}},
			"faultline run --scenario smoke --seed 7 --defects a,b --iterations 50 --nodes 2"},
		{Config{Seed: 7, DiskSize: 512 << 20}, "faultline run --scenario smoke --seed 7 --disk-size 536870912"},
	} {
		e := &Env{cfg: &tc.cfg, Seed: tc.cfg.Seed}
		if got := e.Reproduce("smoke"); got != tc.want {
			t.Errorf("Reproduce = %q, want %q", got, tc.want)
		}
	}
}

// The soak is reproduced by faultline soak with the same schedule knobs.
func TestReproduceSoak(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Seed: 9}, "faultline soak --duration 10m0s --seed 9"},
		{Config{Seed: 9, Nodes: 4, DiskSize: 256 << 20, Defects: []string{"x"},
			Soak: SoakConfig{Duration: 5 * time.Minute, Volumes: 2, FaultKinds: []string{"engine-crash", "node-stop"}, CheckEvery: 3}},
			"faultline soak --duration 5m0s --seed 9 --volumes 2 --fault-kinds engine-crash,node-stop --check-every 3 --defects x --nodes 4 --disk-size 268435456"},
	} {
		e := &Env{cfg: &tc.cfg, Seed: tc.cfg.Seed}
		if got := e.Reproduce(soakName); got != tc.want {
			t.Errorf("Reproduce(soak) = %q, want %q", got, tc.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("FAULTLINE_SEED", "12")
	t.Setenv("FAULTLINE_DEFECTS", " a, ,b ")
	t.Setenv("FAULTLINE_ITERATIONS", "5")
	c, err := FromEnv()
	if err != nil || c.Seed != 12 || c.Iterations != 5 || len(c.Defects) != 2 || c.Defects[1] != "b" {
		t.Fatalf("FromEnv = %+v, %v", c, err)
	}
	t.Setenv("FAULTLINE_DISK_SIZE", "256M")
	t.Setenv("FAULTLINE_SOAK_DURATION", "90s")
	if c, err := FromEnv(); err != nil || c.DiskSize != 256<<20 || c.Soak.Duration != 90*time.Second {
		t.Fatalf("FromEnv with disk size and soak duration = %+v, %v", c, err)
	}
	for _, kv := range [][2]string{{"FAULTLINE_SEED", "x"}, {"FAULTLINE_ITERATIONS", "-1"}, {"FAULTLINE_NODES", "0"}, {"FAULTLINE_KEEP_CLUSTER", "maybe"},
		{"FAULTLINE_DISK_SIZE", "1000"}, {"FAULTLINE_DISK_SIZE", "big"}, {"FAULTLINE_SOAK_DURATION", "-1m"}} {
		t.Run(kv[0], func(t *testing.T) {
			t.Setenv(kv[0], kv[1])
			if _, err := FromEnv(); err == nil {
				t.Errorf("%s=%s accepted", kv[0], kv[1])
			}
		})
	}
}
