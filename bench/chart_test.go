package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// svgCounts decodes an SVG document token by token, failing on anything
// that is not well-formed XML, and counts the bars, the ratio and p99
// labels and the error markers.
func svgCounts(t *testing.T, doc []byte) (bars, ratios, p99s, errs int) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	roots, depth := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
				}
			}
			depth++
			for _, a := range tok.Attr {
				if a.Name.Local == "class" && a.Value == "bar" && tok.Name.Local == "rect" {
					bars++
				}
				if a.Name.Local == "class" && a.Value == "ratio" {
					ratios++
				}
				if a.Name.Local == "class" && a.Value == "p99" {
					p99s++
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if strings.TrimSpace(string(tok)) == "error" {
				errs++
			}
		}
	}
	if roots != 1 {
		t.Fatalf("%d root elements, want 1", roots)
	}
	return bars, ratios, p99s, errs
}

func TestRenderSVG(t *testing.T) {
	targets := []string{Baseline, "refengine-lvol", "refengine-raid1x2", `odd <name> & "quotes"`}
	workloads := DefaultWorkloads()
	rep := Report{Started: time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC), Runtime: "10s", Baseline: Baseline,
		Host: Host{CPUs: 2, LoadStart: &Load{One: 8.35}}}
	for i, tg := range targets {
		for j, w := range workloads {
			v := float64(100*(j+1) + 10*i)
			rep.Results = append(rep.Results, Result{Target: tg, Workload: w.Name, MBps: v, MBpsMin: v - 5, MBpsMax: v + 5,
				Ratio: v / float64(100*(j+1)), WriteP99: time.Duration(v) * time.Microsecond, Runs: make([]FioResult, 3)})
		}
	}
	tests := []struct {
		name                       string
		results                    []Result
		bars, ratios, p99s, errors int
	}{
		// One p99 label per target: only the QD1 random write panel has them.
		{"all measured", rep.Results, len(targets) * len(workloads), len(targets) * len(workloads), len(targets), 0},
		{"one failed", append([]Result{{Target: "dead", Workload: workloads[0].Name, Error: "start: <exited> & gone"}}, rep.Results...),
			len(targets) * len(workloads), len(targets) * len(workloads), len(targets), 1},
		{"nothing", nil, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rep
			r.Results = tt.results
			var b bytes.Buffer
			if err := RenderSVG(&b, r); err != nil {
				t.Fatal(err)
			}
			bars, ratios, p99s, errs := svgCounts(t, b.Bytes())
			if bars != tt.bars || ratios != tt.ratios || p99s != tt.p99s || errs != tt.errors {
				t.Errorf("%d bars, %d ratio labels, %d p99 labels, %d errors; want %d, %d, %d, %d",
					bars, ratios, p99s, errs, tt.bars, tt.ratios, tt.p99s, tt.errors)
			}
		})
	}
}

func TestWriteSVG(t *testing.T) {
	// Like the JSON, the chart goes into a directory that may not exist.
	path := ChartPath(filepath.Join(t.TempDir(), "runs", "bench", "bench.json"))
	if filepath.Base(path) != "bench.svg" {
		t.Fatalf("ChartPath gave %s, want bench.svg beside the JSON", path)
	}
	rep := Report{Baseline: Baseline, Results: []Result{{Target: Baseline, Workload: "w", MBps: 1, MBpsMin: 1, MBpsMax: 1, Ratio: 1}}}
	if err := WriteSVG(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bars, _, _, _ := svgCounts(t, b); bars != 1 {
		t.Errorf("%d bars, want 1", bars)
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {0.25, 0.25}, {1, 1}, {1.1, 1.2}, {3.1, 4}, {7, 8}, {9, 10}, {1615, 2000}, {2294.7, 2500}, {250, 250},
	}
	for _, tt := range tests {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
