package scenarios

import (
	"regexp"
	"testing"
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
	} {
		e := &Env{cfg: &tc.cfg, Seed: tc.cfg.Seed}
		if got := e.Reproduce("smoke"); got != tc.want {
			t.Errorf("Reproduce = %q, want %q", got, tc.want)
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
	for _, kv := range [][2]string{{"FAULTLINE_SEED", "x"}, {"FAULTLINE_ITERATIONS", "-1"}, {"FAULTLINE_NODES", "0"}, {"FAULTLINE_KEEP_CLUSTER", "maybe"}} {
		t.Run(kv[0], func(t *testing.T) {
			t.Setenv(kv[0], kv[1])
			if _, err := FromEnv(); err == nil {
				t.Errorf("%s=%s accepted", kv[0], kv[1])
			}
		})
	}
}
