package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/faultline/faultline/timeline"
)

// doc is a parsed report with small query helpers.
type doc struct{ root *html.Node }

func parseReport(t *testing.T, b []byte) doc {
	t.Helper()
	n, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("report.html does not parse: %v", err)
	}
	return doc{n}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

// all returns the element nodes under n (n included) that match.
func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func tagClass(name, class string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name && hasClass(n, class) }
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func renderSample(t *testing.T, run Run) ([]byte, doc) {
	t.Helper()
	path := filepath.Join(t.TempDir(), HTMLFile)
	if err := WriteHTML(run, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, parseReport(t, b)
}

func TestHTMLSummaryTable(t *testing.T) {
	run := sampleRun()
	_, d := renderSample(t, run)
	tables := all(d.root, tagClass("table", "summary"))
	if len(tables) != 1 {
		t.Fatalf("%d summary tables", len(tables))
	}
	rows := all(tables[0], func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-scenario") != "" })
	if len(rows) != len(run.Scenarios) {
		t.Fatalf("%d summary rows, want %d", len(rows), len(run.Scenarios))
	}
	want := []struct{ name, result, checker string }{
		{run.Scenarios[0].Name, "passed", "—"},
		{run.Scenarios[1].Name, "failed", "state"},
		{hostile, "skipped", "—"},
		{"engine-crash-during-live-upgrade", "interrupted", "—"},
	}
	for i, row := range rows {
		cells := all(row, tag("td"))
		if len(cells) != 6 {
			t.Fatalf("row %d has %d cells", i, len(cells))
		}
		if got := text(cells[0]); got != want[i].name {
			t.Errorf("row %d name = %q, want %q", i, got, want[i].name)
		}
		if got := text(cells[2]); got != want[i].result || !hasClass(row, want[i].result) {
			t.Errorf("row %d result = %q (class %q), want %q", i, got, attr(row, "class"), want[i].result)
		}
		if got := text(cells[4]); got != want[i].checker {
			t.Errorf("row %d failing checker = %q, want %q", i, got, want[i].checker)
		}
		// The row links to its scenario section.
		links := all(cells[0], tag("a"))
		if len(links) != 1 || len(all(d.root, func(n *html.Node) bool { return "#"+attr(n, "id") == attr(links[0], "href") })) != 1 {
			t.Errorf("row %d does not link to a section", i)
		}
	}
	head := text(all(d.root, tag("header"))[0])
	for _, want := range []string{run.ID, "424242", "im-restart-stale-head-cache", run.Command, "go1.26.8", "failed"} {
		if !strings.Contains(head, want) {
			t.Errorf("header lacks %q", want)
		}
	}
}

func TestHTMLTimelinePicture(t *testing.T) {
	run := sampleRun()
	_, d := renderSample(t, run)
	svgs := all(d.root, tagClass("svg", "tl"))
	if len(svgs) != 2 { // smoke and the loop; the others recorded no timeline
		t.Fatalf("%d timeline pictures, want 2", len(svgs))
	}
	loop := svgs[1]
	if got := len(all(loop, tagClass("rect", "fault-band"))); got != 50 {
		t.Errorf("%d fault bands, want 50 (one per fault window)", got)
	}
	var lanes []string
	for _, g := range all(loop, tagClass("g", "lane")) {
		lanes = append(lanes, attr(g, "data-lane"))
	}
	wantLanes := []string{"im-delete node-2 ×50", "volume im-loop", "replica im-loop-r-x1", "node-2 instance manager",
		"workload/im-loop (", "steps (51)", "checkers", "log node-2 (100)", "log manager (1)"}
	if len(lanes) != len(wantLanes) {
		t.Fatalf("lanes = %q, want %q", lanes, wantLanes)
	}
	for i, w := range wantLanes {
		if !strings.HasPrefix(lanes[i], w) {
			t.Errorf("lane %d = %q, want prefix %q", i, lanes[i], w)
		}
	}
	segs := all(loop, tagClass("rect", "seg"))
	colours := map[string]bool{}
	for _, s := range segs {
		colours[attr(s, "fill")] = true
	}
	for _, c := range []string{colFault, colGood, colBad, colBusy} {
		if !colours[c] {
			t.Errorf("no segment coloured %s (fault/good/bad/busy) among %v", c, colours)
		}
	}
	bars := all(loop, tagClass("rect", "bar"))
	if len(bars) == 0 || len(bars) > 3*picBuckets {
		t.Errorf("%d workload bars", len(bars))
	}
	marks := all(loop, tagClass("polygon", "verdict-mark"))
	if len(marks) == 0 {
		t.Error("no checker markers")
	}
	if fill := attr(marks[len(marks)-1], "fill"); fill != colBad {
		t.Errorf("last checker marker fill = %s, want the failing colour %s", fill, colBad)
	}
	if n := len(all(loop, tag("text"))); n < 10 {
		t.Errorf("only %d text labels in the picture", n)
	}
}

// TestHTMLAggregatesLongTimelines checks that a scenario with many fault
// windows and thousands of state changes yields a bounded picture.
func TestHTMLAggregatesLongTimelines(t *testing.T) {
	t0 := sampleT0
	var ev []timeline.Event
	for i := range 20000 {
		s := []string{"healthy", "degraded", "faulted"}[i%3]
		ev = append(ev, timeline.Event{Time: t0.Add(time.Duration(i) * 30 * time.Millisecond), Kind: timeline.KindState, Lane: "volume v", Name: s})
		ev = append(ev, timeline.Event{Time: t0.Add(time.Duration(i) * 30 * time.Millisecond), Kind: timeline.KindWorkload, Name: "write ok"})
		if i%100 == 0 {
			ev = append(ev, timeline.Event{Time: t0.Add(time.Duration(i) * 30 * time.Millisecond), Kind: timeline.KindStep, Name: fmt.Sprint("step ", i)})
		}
	}
	for i := range 500 {
		at := t0.Add(time.Duration(i) * 1200 * time.Millisecond)
		ev = append(ev, timeline.Event{Time: at, End: at.Add(100 * time.Millisecond), Kind: timeline.KindFault, Lane: "node-1", Name: "engine-crash"})
	}
	run := Run{Format: FormatVersion, ID: "long", Scenarios: []Scenario{{
		Name: "long", State: StateFailed, Start: t0, End: t0.Add(10 * time.Minute), Timeline: ev,
	}}}
	b, d := renderSample(t, run)
	svg := all(d.root, tagClass("svg", "tl"))[0]
	n := len(all(svg, func(*html.Node) bool { return true }))
	t.Logf("%d events drawn with %d SVG elements, report %d bytes", len(ev), n, len(b))
	if n > 4000 {
		t.Errorf("picture has %d elements for %d events: not aggregated", n, len(ev))
	}
	if len(b) > 2<<20 {
		t.Errorf("report is %d bytes", len(b))
	}
	busy := all(svg, func(n *html.Node) bool { return n.Data == "rect" && attr(n, "fill") == colBusy })
	if len(busy) == 0 {
		t.Error("flapping state not folded into a busy segment")
	}
	if len(all(svg, tagClass("rect", "fault-band"))) >= 500 {
		t.Error("500 fault windows 1.2s apart on a 10 min axis were not merged")
	}
	if !strings.Contains(string(b), "Faults (200 + 300 more)") {
		t.Error("long fault list not bounded")
	}
}

func TestHTMLEscapesHostileText(t *testing.T) {
	run := sampleRun()
	run.ID = hostile
	run.Command = hostile
	run.Defects = []string{hostile}
	run.Scenarios[1].Verdicts[0].Summary = hostile
	run.Scenarios[1].Verdicts[0].Diff = hostile
	run.Scenarios[1].Timeline = append(run.Scenarios[1].Timeline,
		timeline.Event{Time: sampleT0.Add(time.Minute), Kind: timeline.KindState, Lane: hostile, Name: hostile},
		timeline.Event{Time: sampleT0.Add(time.Minute), Kind: timeline.KindStep, Name: "</title></svg><script>x()</script>"})
	b, d := renderSample(t, run)
	if bytes.Contains(b, []byte("<script")) {
		t.Error("report holds a raw <script")
	}
	if n := len(all(d.root, tag("script"))); n != 0 {
		t.Errorf("report parses to %d script elements", n)
	}
	sections := all(d.root, tagClass("section", "scenario"))
	if len(sections) != len(run.Scenarios) {
		t.Fatalf("hostile text broke the structure: %d sections, want %d", len(sections), len(run.Scenarios))
	}
	if !strings.Contains(text(d.root), `<script>alert("x")</script>`) {
		t.Error("hostile text not shown as text")
	}
}

func TestHTMLFetchesNothing(t *testing.T) {
	b, d := renderSample(t, sampleRun())
	for _, el := range []string{"script", "link", "img", "iframe", "object", "embed", "image", "use", "base"} {
		if n := len(all(d.root, tag(el))); n != 0 {
			t.Errorf("report has %d <%s> elements", n, el)
		}
	}
	for _, n := range all(d.root, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			v := strings.ToLower(strings.TrimSpace(a.Val))
			switch a.Key {
			case "src", "srcset", "action", "xlink:href", "poster", "background":
				t.Errorf("<%s %s=%q> would fetch", n.Data, a.Key, a.Val)
			case "href":
				if strings.Contains(v, ":") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/") || strings.Contains(v, "..") {
					t.Errorf("<%s href=%q> leaves the report directory", n.Data, a.Val)
				}
			case "style":
				if strings.Contains(v, "url(") {
					t.Errorf("<%s style=%q> fetches", n.Data, a.Val)
				}
			}
		}
	}
	for _, st := range all(d.root, tag("style")) {
		css := text(st)
		if strings.Contains(css, "url(") || strings.Contains(css, "@import") {
			t.Error("inline CSS fetches")
		}
	}
	// The sample's external artifact is shown as text, not linked.
	if !bytes.Contains(b, []byte("https://evil.example/x.js")) {
		t.Error("external artifact not listed")
	}
	links := all(d.root, func(n *html.Node) bool { return n.Data == "a" && strings.HasPrefix(attr(n, "href"), "logs/") })
	if len(links) != 2 {
		t.Errorf("%d artifact links, want 2", len(links))
	}
}

func TestHTMLEvidenceAndDetails(t *testing.T) {
	run := sampleRun()
	_, d := renderSample(t, run)
	loop := all(d.root, tagClass("section", "scenario"))[1]
	verdicts := all(loop, tagClass("div", "verdict"))
	if len(verdicts) != 3 {
		t.Fatalf("%d verdict blocks, want 3", len(verdicts))
	}
	rows := all(verdicts[1], func(n *html.Node) bool { return n.Data == "tr" && n.Parent.Data == "tbody" })
	if len(rows) != htmlEvidenceMax {
		t.Errorf("%d evidence rows, want the bound %d", len(rows), htmlEvidenceMax)
	}
	if !strings.Contains(text(verdicts[1]), "30 more evidence rows") {
		t.Error("cut evidence not announced")
	}
	diffs := all(verdicts[0], tagClass("pre", "diff"))
	if len(diffs) != 1 {
		t.Fatal("diff not shown in <pre>")
	}
	del, ins := all(diffs[0], tagClass("span", "del")), all(diffs[0], tagClass("span", "ins"))
	if len(del) != 1 || len(ins) != 1 || !strings.Contains(text(del[0]), `"healthy"`) || !strings.Contains(text(ins[0]), `"faulted"`) {
		t.Errorf("diff lines not marked: %d removed, %d added", len(del), len(ins))
	}
	if !strings.Contains(text(verdicts[1]), "4194304 (0x400000)") {
		t.Error("evidence offset not shown in decimal and hex")
	}
	logs := all(loop, tagClass("details", "log"))
	if len(logs) != 2 || !strings.Contains(text(logs[1]), "-17 File exists") {
		t.Errorf("log tails: %d blocks", len(logs))
	}
	if !strings.Contains(text(loop), run.Scenarios[1].Reproduce) {
		t.Error("reproduce command missing")
	}
	faults := all(loop, tagClass("table", "faults"))
	if len(faults) != 1 || !strings.Contains(text(faults[0]), "executed by") ||
		!strings.Contains(text(faults[0]), "chaos-mesh PodChaos/refengine-system/faultline-pod-kill-node-2-1") {
		t.Error("the faults table does not name the executor and the Chaos Mesh object")
	}
}

// regeneratedSample saves sampleRun in a temporary directory and writes its
// report.html there with RegenerateHTML, the way `faultline report` does.
func regeneratedSample(t *testing.T) (string, Run) {
	t.Helper()
	dir := t.TempDir()
	run := sampleRun()
	if err := run.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := RegenerateHTML(dir); err != nil {
		t.Fatal(err)
	}
	return dir, run
}

func TestRegenerateHTML(t *testing.T) {
	dir, run := regeneratedSample(t)
	b, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := renderHTML(run)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Error("regenerated report differs from a direct render of the same run")
	}
	if err := RegenerateHTML(t.TempDir()); err == nil {
		t.Error("RegenerateHTML of a dir without run.json succeeded")
	}
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "r1")
	rep := ginkgoSample(t)
	run := FromGinkgo(rep, testMeta)
	if err := WriteAll(dir, run, rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{RunFile, JUnitFile, GinkgoFile, HTMLFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	back, err := Load(dir)
	if err != nil || len(back.Scenarios) != len(run.Scenarios) {
		t.Fatalf("Load after WriteAll: %v", err)
	}
	g, err := os.ReadFile(filepath.Join(dir, GinkgoFile))
	if err != nil {
		t.Fatal(err)
	}
	var reps []json.RawMessage
	if err := json.Unmarshal(g, &reps); err != nil || len(reps) != 1 {
		t.Errorf("ginkgo.json: %v", err)
	}
}

func FuzzDecodeRun(f *testing.F) {
	// A small seed: the fuzzer minimises interesting inputs byte by byte,
	// which takes ages from the 300 KB full sample.
	small := sampleRun()
	loop := &small.Scenarios[1]
	loop.Timeline, loop.Faults = loop.Timeline[:60], nil
	loop.Verdicts[1].Evidence = loop.Verdicts[1].Evidence[:2]
	loop.LogTails = map[string]string{"node-2": "a\nb"}
	good, err := json.Marshal(small)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"format":1,"scenarios":[{"name":"a","state":"passed","start":"0001-01-01T00:00:00Z","end":"9999-12-31T23:59:59Z","timeline":[{"time":"2026-01-01T00:00:00Z","kind":"fault"}]}]}`))
	f.Add([]byte(`{"format":1,"scenarios":[{"state":"failed","timeline":[{"time":"2026-01-01T00:00:00Z","end":"2025-01-01T00:00:00Z","kind":"fault"},{"time":"2026-01-01T00:00:00Z","kind":"workload","detail":{"count":"99999999999999999999"}}]}]}`))
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		run, err := DecodeRun(b)
		if err != nil {
			return
		}
		if _, err := renderHTML(run); err != nil {
			t.Fatalf("render of a valid run failed: %v", err)
		}
		if _, err := junitBytes(run); err != nil {
			t.Fatalf("junit of a valid run failed: %v", err)
		}
	})
}
