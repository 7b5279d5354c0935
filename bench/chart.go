package bench

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ChartPath is where the chart of the report written to jsonPath goes:
// beside it, with the extension .svg.
func ChartPath(jsonPath string) string {
	return strings.TrimSuffix(jsonPath, filepath.Ext(jsonPath)) + ".svg"
}

// WriteSVG writes the fio results of rep as an SVG bar chart to path,
// replacing it atomically.
func WriteSVG(path string, rep Report) error {
	var b strings.Builder
	if err := RenderSVG(&b, rep); err != nil {
		return err
	}
	if err := writeFileAtomic(path, []byte(b.String())); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

// The chart's geometry, in SVG user units (pixels).
const (
	chartLeft     = 70  // room for the y axis labels
	chartTop      = 56  // room for the title lines
	chartSlot     = 64  // width per target within a panel
	chartBar      = 40  // bar width
	chartPanelH   = 190 // plot height of one workload's panel
	chartPanelGap = 56  // between panels: the next panel's title and axis labels
	chartLegendW  = 250
)

// chartColors tell the targets apart; the baseline is always grey.
var chartColors = [...]string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"}

// RenderSVG draws one panel per workload, each on its own scale (1 MiB
// sequential writes and 4 KiB writes at depth 1 differ a hundredfold): a
// bar per target at its median MB/s, an error bar from the slowest to the
// fastest run, and above it the ratio of the medians to the baseline;
// under the bars of LatencyWorkload, the p99 write latency. A target
// without figures gets the word "error" instead of a bar. The
// document is built from encoding/xml values, so every name and message is
// escaped.
func RenderSVG(w io.Writer, rep Report) error {
	var targets, workloads []string
	for _, r := range rep.Results {
		targets = appendNew(targets, r.Target)
		workloads = appendNew(workloads, r.Workload)
	}
	byKey := map[[2]string]Result{}
	for _, r := range rep.Results {
		byKey[[2]string{r.Target, r.Workload}] = r
	}
	plotW := len(targets) * chartSlot
	// At least as wide as the title lines.
	width := max(chartLeft+plotW+30+chartLegendW, 820)
	height := chartTop + len(workloads)*(chartPanelH+chartPanelGap) + 10
	root := el("svg", "xmlns", "http://www.w3.org/2000/svg",
		"width", itoa(width), "height", itoa(height), "viewBox", fmt.Sprintf("0 0 %d %d", width, height),
		"font-family", "sans-serif", "font-size", "11")
	root.add(el("rect", "width", itoa(width), "height", itoa(height), "fill", "white"))
	runs := 0
	for _, r := range rep.Results {
		runs = max(runs, len(r.Runs))
	}
	root.add(text(10, 18, fmt.Sprintf("refbench %s: fio over NBD, %s per run, median of up to %d runs",
		rep.Started.Format("2006-01-02 15:04 MST"), rep.Runtime, runs), "font-size", "14"))
	root.add(text(10, 36, fmt.Sprintf("bars: median MB/s; error bars: slowest to fastest run; labels: ratio of medians to %s; %s",
		rep.Baseline, loadText(rep.Host))))

	colors := map[string]string{}
	for i, t := range targets {
		colors[t] = chartColors[i%len(chartColors)]
		if t == rep.Baseline {
			colors[t] = "#999999"
		}
	}
	for pi, wl := range workloads {
		top := chartTop + pi*(chartPanelH+chartPanelGap) + 24
		scale := 0.0
		for _, t := range targets {
			if r, ok := byKey[[2]string{t, wl}]; ok && r.Error == "" {
				scale = max(scale, r.MBpsMax)
			}
		}
		scale = niceCeil(scale)
		panel := el("g", "class", "panel")
		panel.add(text(chartLeft, float64(top-8), wl+" (MB/s)", "font-weight", "bold"))
		bottom := float64(top + chartPanelH)
		y := func(v float64) float64 { return bottom - v/scale*chartPanelH }
		for _, v := range []float64{0, scale / 2, scale} {
			panel.add(line(chartLeft-4, y(v), float64(chartLeft+plotW), y(v), "#dddddd"))
			panel.add(text(chartLeft-8, y(v)+4, strconv.FormatFloat(v, 'f', -1, 64), "text-anchor", "end"))
		}
		for ti, t := range targets {
			r, ok := byKey[[2]string{t, wl}]
			if !ok {
				continue
			}
			x := float64(chartLeft + ti*chartSlot + (chartSlot-chartBar)/2)
			mid := x + chartBar/2
			if r.Error != "" {
				e := text(mid, bottom-6, "error", "text-anchor", "middle", "fill", "#c00000")
				e.add(el("title").withText(r.Target + " " + r.Workload + ": " + r.Error))
				panel.add(e)
				continue
			}
			bar := el("rect", "class", "bar", "x", ftoa(x), "y", ftoa(y(r.MBps)),
				"width", itoa(chartBar), "height", ftoa(bottom-y(r.MBps)), "fill", colors[t])
			bar.add(el("title").withText(fmt.Sprintf("%s %s: median %.1f MB/s (%.1f to %.1f over %d runs), %.0f IOPS",
				r.Target, r.Workload, r.MBps, r.MBpsMin, r.MBpsMax, len(r.Runs), r.IOPS)))
			panel.add(bar)
			panel.add(line(mid, y(r.MBpsMin), mid, y(r.MBpsMax), "black"))
			panel.add(line(mid-6, y(r.MBpsMin), mid+6, y(r.MBpsMin), "black"))
			panel.add(line(mid-6, y(r.MBpsMax), mid+6, y(r.MBpsMax), "black"))
			if r.Ratio > 0 {
				panel.add(text(mid, y(r.MBpsMax)-5, fmt.Sprintf("%.2f×", r.Ratio), "text-anchor", "middle", "class", "ratio"))
			}
			if wl == LatencyWorkload && r.WriteP99 > 0 {
				panel.add(text(mid, bottom+14, fmt.Sprintf("p99 %.0f µs", float64(r.WriteP99)/float64(time.Microsecond)),
					"text-anchor", "middle", "font-size", "9", "class", "p99"))
			}
		}
		panel.add(line(chartLeft, bottom, float64(chartLeft+plotW), bottom, "black"))
		root.add(panel)
	}
	legend := el("g", "class", "legend")
	lx := chartLeft + plotW + 30
	for i, t := range targets {
		ly := chartTop + 24 + i*18
		legend.add(el("rect", "x", itoa(lx), "y", itoa(ly-10), "width", "12", "height", "12", "fill", colors[t]))
		legend.add(text(float64(lx+18), float64(ly), t))
	}
	root.add(legend)

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	return nil
}

// svgNode is one SVG element. A generic element rather than a struct per
// element keeps the drawing code short; encoding/xml still does the
// escaping.
type svgNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",attr"`
	Text     string     `xml:",chardata"`
	Children []*svgNode
}

// el makes an element with attributes given as name, value pairs.
func el(name string, attrs ...string) *svgNode {
	n := &svgNode{XMLName: xml.Name{Local: name}}
	for i := 0; i+1 < len(attrs); i += 2 {
		n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return n
}

func (n *svgNode) add(c *svgNode) { n.Children = append(n.Children, c) }

func (n *svgNode) withText(s string) *svgNode {
	n.Text = s
	return n
}

func text(x, y float64, s string, attrs ...string) *svgNode {
	return el("text", append([]string{"x", ftoa(x), "y", ftoa(y)}, attrs...)...).withText(s)
}

func line(x1, y1, x2, y2 float64, stroke string) *svgNode {
	return el("line", "x1", ftoa(x1), "y1", ftoa(y1), "x2", ftoa(x2), "y2", ftoa(y2), "stroke", stroke)
}

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceCeil rounds v up to a round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6
// or 8 times a power of ten), so the axis has round labels and the
// tallest bar fills most of its panel; 1 for nothing to show.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// loadText describes the load at the start of the run for the chart.
func loadText(h Host) string {
	if h.LoadStart == nil {
		return fmt.Sprintf("load unknown, %d CPUs", h.CPUs)
	}
	return fmt.Sprintf("load at start %.2f on %d CPUs", h.LoadStart.One, h.CPUs)
}

// appendNew appends s to list unless it is already there, keeping the
// order of first appearance.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
