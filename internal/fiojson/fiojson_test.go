package fiojson

import (
	"os"
	"strings"
	"testing"
)

const verifyRun = `fio: connected to NBD server
{
  "fio version" : "fio-3.38",
  "jobs" : [
    {"jobname" : "verify", "error" : 0,
     "read" : {"io_bytes" : 4096, "bw_bytes" : 100.5, "iops" : 2.5, "total_ios" : 1},
     "write" : {"io_bytes" : 4096, "bw_bytes" : 200, "iops" : 5, "total_ios" : 1}}
  ]
}
fio: trailing note`

func TestParse(t *testing.T) {
	o, err := Parse([]byte(verifyRun))
	if err != nil {
		t.Fatal(err)
	}
	want := Job{Name: "verify", Read: Stream{IOBytes: 4096, BwBytes: 100.5, IOPS: 2.5, TotalIOs: 1},
		Write: Stream{IOBytes: 4096, BwBytes: 200, IOPS: 5, TotalIOs: 1}}
	if o.Version != "fio-3.38" || len(o.Jobs) != 1 || o.Jobs[0] != want {
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
		}
	})
}
