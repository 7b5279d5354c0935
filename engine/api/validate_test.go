package api

import (
	"regexp"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"vol-1", true}, {"0abc", true}, {strings.Repeat("a", 63), true},
		{"", false}, {strings.Repeat("a", 64), false}, {"-a", false}, {"A", false},
		{"a_b", false}, {"a.b", false}, {"a b", false}, {"é", false}, {"a\n", false},
	}
	for _, tt := range tests {
		err := ValidateName(KindVolume, tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !IsCode(err, 400) {
			t.Errorf("ValidateName(%q) error %v is not a 400 api.Error", tt.name, err)
		}
	}
}

func TestValidateSizeAndCount(t *testing.T) {
	sizes := []struct {
		size int64
		ok   bool
	}{
		{MiB, true}, {1 << 30, true}, {MaxVolumeSize, true},
		{0, false}, {-MiB, false}, {MiB + 512, false}, {512, false}, {MaxVolumeSize + MiB, false},
	}
	for _, tt := range sizes {
		if err := ValidateSize(tt.size); (err == nil) != tt.ok {
			t.Errorf("ValidateSize(%d) = %v, want ok=%v", tt.size, err, tt.ok)
		}
	}
	for n := -1; n <= 17; n++ {
		want := n >= 1 && n <= 16
		if err := ValidateReplicaCount(n); (err == nil) != want {
			t.Errorf("ValidateReplicaCount(%d) = %v, want ok=%v", n, err, want)
		}
	}
}

func TestVolumeCreateRequestDefaults(t *testing.T) {
	r := VolumeCreateRequest{Name: "v", Size: MiB}
	r.Normalize()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.NumberOfReplicas != DefaultReplicas || r.Frontend != FrontendNBD {
		t.Fatalf("defaults not applied: %+v", r)
	}
}

func TestGeneratedNames(t *testing.T) {
	re := regexp.MustCompile(`^vol-r-[a-z0-9]{8}$`)
	seen := map[string]bool{}
	for range 100 {
		n := NewReplicaName("vol")
		if !re.MatchString(n) {
			t.Fatalf("replica name %q does not match %s", n, re)
		}
		seen[n] = true
	}
	if len(seen) < 99 {
		t.Fatalf("only %d distinct names in 100", len(seen))
	}
	if got := EngineName("vol", 0); got != "vol-e-0" {
		t.Fatalf("EngineName = %q", got)
	}
}

func TestValidateSHA512(t *testing.T) {
	good := strings.Repeat("ab", 64)
	if err := ValidateSHA512(good, false); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "ab", strings.Repeat("AB", 64), strings.Repeat("zz", 64)} {
		if ValidateSHA512(bad, false) == nil {
			t.Errorf("ValidateSHA512(%q) accepted", bad)
		}
	}
	if ValidateSHA512("", true) != nil {
		t.Error("optional empty sha512 rejected")
	}
}
