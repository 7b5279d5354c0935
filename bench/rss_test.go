package bench

import (
	"os"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr string
	}{
		{"usual", "Name:\trefengine\nVmPeak:\t 1251948 kB\nVmRSS:\t   41236 kB\nRssAnon:\t 20000 kB\n", 41236 << 10, ""},
		{"first line", "VmRSS: 1 kB", 1024, ""},
		{"zero", "VmRSS:\t0 kB\n", 0, ""},
		{"absent", "Name:\tkthreadd\nState:\tS (sleeping)\n", 0, "no VmRSS line"},
		{"empty", "", 0, "no VmRSS line"},
		{"no unit", "VmRSS:\t41236\n", 0, "want a number of kB"},
		{"other unit", "VmRSS:\t41 MB\n", 0, "want a number of kB"},
		{"not a number", "VmRSS:\tlots kB\n", 0, "not a size"},
		{"negative", "VmRSS:\t-5 kB\n", 0, "not a size"},
		{"huge", "VmRSS:\t99999999999999999 kB\n", 0, "not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVmRSS(tt.status)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseVmRSS = %d, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseVmRSS = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestReadRSSSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	n, err := ReadRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n < 1<<20 {
		t.Fatalf("RSS of the test process = %d bytes; a Go test binary holds more than 1 MiB", n)
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add("VmRSS:\t   41236 kB\n")
	f.Add("Name:\tx\nVmRSS:\t1 kB\nVmRSS:\t2 kB\n")
	f.Add("VmRSS:")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseVmRSS(s)
		if err == nil && (n < 0 || n%1024 != 0) {
			t.Fatalf("ParseVmRSS(%q) = %d: not a whole number of kB", s, n)
		}
	})
}
