package scenarios

import (
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

// The soak runs only when asked for: by name, or by a label filter that
// names it. Every filter LabelFilter returns must parse.
func TestLabelFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, focus string
		want          string
		soak          bool // does the result select the soak's labels?
		smoke         bool
	}{
		{"", "", "!soak", false, true},
		{"", "soak", "", true, true},
		{"smoke", "", "(smoke) && !soak", false, true},
		{"integrity || seed", "", "(integrity || seed) && !soak", false, false},
		{"!smoke", "", "(!smoke) && !soak", false, false},
		{"soak", "", "soak", true, false},
		{"smoke || soak", "", "smoke || soak", true, true},
		{"!soak", "", "!soak", false, true},
		{"soaking", "", "(soaking) && !soak", false, false},
	} {
		got := LabelFilter(tc.filter, tc.focus)
		if got != tc.want {
			t.Errorf("LabelFilter(%q, %q) = %q, want %q", tc.filter, tc.focus, got, tc.want)
		}
		f, err := types.ParseLabelFilter(got)
		if err != nil {
			t.Errorf("LabelFilter(%q, %q) = %q does not parse: %v", tc.filter, tc.focus, got, err)
			continue
		}
		if f([]string{soakName}) != tc.soak || f([]string{"smoke"}) != tc.smoke {
			t.Errorf("filter %q: selects soak %t (want %t), smoke %t (want %t)", got, f([]string{soakName}), tc.soak, f([]string{"smoke"}), tc.smoke)
		}
	}
}

// Scenario names are unique, and only the soak is explicit.
func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Catalogue() {
		if seen[e.Name] {
			t.Errorf("scenario %s listed twice", e.Name)
		}
		seen[e.Name] = true
		if e.Explicit != (e.Name == soakName) {
			t.Errorf("scenario %s: explicit %t", e.Name, e.Explicit)
		}
	}
	for _, name := range []string{"engine-crash-under-write-load", "rebuild-churn", "instance-manager-delete-during-rebuild", soakName} {
		if !seen[name] {
			t.Errorf("scenario %s missing from the catalogue", name)
		}
	}
}

// A run gets the disks per node its selected scenarios need: the variant
// that rebuilds onto a node's other disk needs two.
func TestDisksNeeded(t *testing.T) {
	for _, tc := range []struct {
		filter, focus string
		want          int
	}{
		{"", "smoke", 1},
		{"", "backing-image-rebuild-other-disk", 2},
		{"", "backing-image-rebuild-snapshots-under-writes", 1},
		{"", "", 2},
		{"backing-image", "", 2},
		{"smoke", "", 1},
		{"seed", "", 1},
	} {
		got, err := DisksNeeded(tc.filter, tc.focus)
		if err != nil || got != tc.want {
			t.Errorf("DisksNeeded(%q, %q) = %d, %v; want %d", tc.filter, tc.focus, got, err, tc.want)
		}
	}
	if _, err := DisksNeeded("(", ""); err == nil {
		t.Error("DisksNeeded of a filter that does not parse: no error")
	}
}
