package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseLoadavg(t *testing.T) {
	tests := []struct {
		in      string
		want    Load
		wantErr bool
	}{
		{in: "8.35 6.75 4.28 8/159 26808\n", want: Load{One: 8.35, Five: 6.75, Fifteen: 4.28, Running: 8, Tasks: 159}},
		{in: "0.00 0.01 0.05 1/80 1", want: Load{Five: 0.01, Fifteen: 0.05, Running: 1, Tasks: 80}},
		{in: "", wantErr: true},
		{in: "1 2 3 4/5", wantErr: true},
		{in: "1 2 x 1/5 9", wantErr: true},
		{in: "-1 2 3 1/5 9", wantErr: true},
		{in: "NaN 2 3 1/5 9", wantErr: true},
		{in: "1 2 3 15 9", wantErr: true},
		{in: "1 2 3 6/5 9", wantErr: true},
		{in: "1 2 3 -1/5 9", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseLoadavg(tt.in)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "parse loadavg") {
				t.Errorf("ParseLoadavg(%q) = %+v, %v; want an error saying what it parsed", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLoadavg(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestReadLoad(t *testing.T) {
	if _, err := ReadLoad(); err != nil {
		t.Skipf("no /proc/loadavg here: %v", err)
	}
}

func TestWriteLoad(t *testing.T) {
	tests := []struct {
		l    *Load
		want string
	}{
		{&Load{One: 8.35, Five: 6.75, Fifteen: 4.28, Running: 8, Tasks: 159},
			"load at start: 8.35 6.75 4.28 (1, 5, 15 min), 8 of 159 tasks runnable, 2 CPUs\n"},
		{nil, "load at start: unknown, 2 CPUs\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		WriteLoad(&b, "at start", tt.l, 2)
		if b.String() != tt.want {
			t.Errorf("WriteLoad(%+v) = %q, want %q", tt.l, b.String(), tt.want)
		}
	}
}

func FuzzParseLoadavg(f *testing.F) {
	f.Add("8.35 6.75 4.28 8/159 26808\n")
	f.Add("0.00 0.00 0.00 0/0 0")
	f.Add("1e3 2 3 4/5 6")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLoadavg(s)
		if err != nil {
			return
		}
		if l.One < 0 || l.Five < 0 || l.Fifteen < 0 || l.Running < 0 || l.Tasks < l.Running {
			t.Fatalf("ParseLoadavg(%q) accepted %+v", s, l)
		}
	})
}
