package scenarios

import (
	"slices"
	"testing"
)

func drawSchedule(seed int64, kinds []string, n int) []plannedFault {
	s := newSoakSchedule(seed, kinds, 3, 3)
	out := make([]plannedFault, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

// The schedule is a function of the seed (and configuration) alone: the
// same seed replays it, another seed does not.
func TestSoakScheduleReplays(t *testing.T) {
	a, b := drawSchedule(7, nil, 200), drawSchedule(7, nil, 200)
	if !slices.Equal(a, b) {
		t.Fatal("seed 7 drew two different schedules")
	}
	if slices.Equal(a, drawSchedule(8, nil, 200)) {
		t.Fatal("seeds 7 and 8 drew the same schedule")
	}
	// A subset of kinds does not shift the durations drawn: every entry
	// takes the same draws whatever its kind.
	sub := drawSchedule(7, []string{soakEngineCrash}, 200)
	for i := range a {
		if a[i].Pause != sub[i].Pause {
			t.Fatalf("entry %d: pause %v with every kind, %v with engine-crash only", i, a[i].Pause, sub[i].Pause)
		}
	}
}

func TestSoakScheduleEntries(t *testing.T) {
	timed := map[string]bool{soakNodeStop: true, soakPause: true, soakDiskError: true}
	for _, tc := range []struct {
		name  string
		kinds []string
	}{
		{"all kinds", nil},
		{"node faults", []string{soakNodeStop, soakIMDelete}},
		{"one kind", []string{soakReplicaDelete}},
		{"opt-in kinds", SoakOptInFaultKinds()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.kinds
			if want == nil {
				want = SoakFaultKinds()
			}
			seen := map[string]int{}
			for i, f := range drawSchedule(11, tc.kinds, 400) {
				seen[f.Kind]++
				switch {
				case f.N != i+1:
					t.Fatalf("entry %d numbered %d", i, f.N)
				case !slices.Contains(want, f.Kind):
					t.Fatalf("entry %v: kind not in %v", f, want)
				case f.Target < 0 || f.Target >= 3 || f.Replica < 0:
					t.Fatalf("entry %v: victim out of range", f)
				case f.Pause < soakMinPause || f.Pause >= soakMaxPause:
					t.Fatalf("entry %v: pause out of [%v, %v)", f, soakMinPause, soakMaxPause)
				case timed[f.Kind] && (f.Down < soakMinDown || f.Down >= soakMaxDown):
					t.Fatalf("entry %v: down for %v, want [%v, %v)", f, f.Down, soakMinDown, soakMaxDown)
				case !timed[f.Kind] && f.Down != 0:
					t.Fatalf("entry %v: only a node stop, a pause and a disk error last a while", f)
				}
			}
			for _, k := range want {
				if seen[k] < 400/len(want)/2 {
					t.Errorf("kind %s drawn %d times of 400 (of %d kinds)", k, seen[k], len(want))
				}
			}
		})
	}
}

func TestCheckSoakFaultKinds(t *testing.T) {
	if err := CheckSoakFaultKinds(append(SoakFaultKinds(), SoakOptInFaultKinds()...)); err != nil {
		t.Errorf("every kind: %v", err)
	}
	for _, k := range SoakOptInFaultKinds() {
		if slices.Contains(SoakFaultKinds(), k) {
			t.Errorf("opt-in kind %s is in the default set: every seed's schedule would change", k)
		}
	}
	if err := CheckSoakFaultKinds([]string{soakEngineCrash, "disk-explode"}); err == nil {
		t.Error("unknown kind disk-explode accepted")
	}
}
