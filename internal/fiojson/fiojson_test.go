package fiojson

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const verifyRun = `fio: connected to NBD server
{
  "fio version" : "fio-3.38",
  "jobs" : [
    {"jobname" : "verify", "error" : 0,
     "read" : {"io_bytes" : 4096, "bw_bytes" : 100.5, "iops" : 2.5, "total_ios" : 1},
     "write" : {"io_bytes" : 4096, "bw_bytes" : 200, "iops" : 5, "total_ios" : 1,
                "clat_ns" : {"min" : 1000, "max" : 3000, "mean" : 2000.5,
                             "percentile" : {"50.000000" : 2048, "99.000000" : 2992}}}}
  ]
}
fio: trailing note`

func TestParse(t *testing.T) {
	o, err := Parse([]byte(verifyRun))
	if err != nil {
		t.Fatal(err)
	}
	want := Job{Name: "verify", Read: Stream{IOBytes: 4096, BwBytes: 100.5, IOPS: 2.5, TotalIOs: 1},
		Write: Stream{IOBytes: 4096, BwBytes: 200, IOPS: 5, TotalIOs: 1,
			Clat: Latency{Min: 1000, Max: 3000, Mean: 2000.5, Percentiles: map[string]float64{"50.000000": 2048, "99.000000": 2992}}}}
	if o.Version != "fio-3.38" || len(o.Jobs) != 1 || !reflect.DeepEqual(o.Jobs[0], want) {
		t.Fatalf("Parse = %+v, want one job %+v", o, want)
	}
	if err := o.Jobs[0].Verified(4096); err != nil {
		t.Errorf("Verified(4096): %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "fio: error", "{", `{"jobs": 3}`} {
		if o, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, o)
		}
	}
}

func TestVerified(t *testing.T) {
	tests := []struct {
		name string
		job  Job
		ok   bool
	}{
		{"all", Job{Read: Stream{IOBytes: 8}, Write: Stream{IOBytes: 8}}, true},
		{"error", Job{Error: 5, Read: Stream{IOBytes: 8}, Write: Stream{IOBytes: 8}}, false},
		{"short write", Job{Read: Stream{IOBytes: 8}, Write: Stream{IOBytes: 4}}, false},
		{"short verify", Job{Read: Stream{IOBytes: 4}, Write: Stream{IOBytes: 8}}, false},
	}
	for _, tc := range tests {
		if err := tc.job.Verified(8); (err == nil) != tc.ok {
			t.Errorf("%s: Verified = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name    string
		pcts    map[string]float64
		p       float64
		want    time.Duration
		wantErr string
	}{
		{"p99", map[string]float64{"50.000000": 10, "99.000000": 8093696}, 99, 8093696 * time.Nanosecond, ""},
		{"p99.9", map[string]float64{"99.000000": 1, "99.900000": 20054016}, 99.9, 20054016 * time.Nanosecond, ""},
		{"short label", map[string]float64{"99": 7}, 99, 7, ""},
		{"missing", map[string]float64{"50.000000": 10}, 99, 0, "no percentile"},
		{"none at all", nil, 99, 0, "no percentile"},
		{"not a label", map[string]float64{"ninety-nine": 7}, 99, 0, "no percentile"},
		{"negative", map[string]float64{"99.000000": -1}, 99, 0, "impossible"},
		{"overflow", map[string]float64{"99.000000": 1e300}, 99, 0, "impossible"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Latency{Percentiles: tt.pcts}.Percentile(tt.p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Percentile(%v) = %v, %v; want an error mentioning %q", tt.p, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Percentile(%v) = %v, %v; want %v", tt.p, got, err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(verifyRun))
	f.Add([]byte(`{"jobs":[{"error":1}]}`))
	f.Add([]byte("no json"))
	if b, err := os.ReadFile("../../bench/testdata/fio-randrw-nbdkit.json"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		o, err := Parse(out)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parse fio output") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		for _, j := range o.Jobs {
			j.Verified(j.Write.IOBytes)
			for _, s := range []Stream{j.Read, j.Write} {
				if d, err := s.Clat.Percentile(99); err == nil && d < 0 {
					t.Fatalf("negative p99 %v from %v", d, s.Clat.Percentiles)
				}
			}
		}
	})
}
