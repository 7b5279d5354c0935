package reports

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// Geometry of the timeline picture, in SVG user units. The SVG scales to the
// page width; these numbers only fix proportions.
const (
	picWidth     = 1200.0
	picLabelW    = 196.0
	picPlotX     = 204.0
	picPlotW     = picWidth - picPlotX - 16
	picAxisH     = 26.0
	picGap       = 5.0
	picMinSegW   = 2.0 // narrower state segments are folded into a "busy" run
	picBuckets   = 200 // workload histogram buckets across the plot
	picMarkSpace = 16.0
	// picMaxLogLanes bounds the per-process log lanes.
	picMaxLogLanes = 6
)

// picture is the laid-out timeline of one scenario, ready for the template.
type picture struct {
	Width, Height float64
	PlotX, PlotW  float64
	AxisY         float64
	Ticks         []tick
	Bands         []band
	Lanes         []lane
	Legend        []legendItem
	Span          string
}

type tick struct {
	X     float64
	Label string
}

// band is a fault window shaded behind every lane.
type band struct {
	X, W  float64
	Open  bool
	Title string
}

type lane struct {
	Y, H   float64
	Label  string
	Detail string // shown as the label's tooltip
	Segs   []seg
	Bars   []bar
	Marks  []mark
}

type seg struct {
	X, W  float64
	Color string
	Title string
	Text  string // drawn inside when it fits
	Open  bool   // an unhealed fault: drawn with a dashed outline
}

type bar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type mark struct {
	X, Y  float64
	Shape string // "tick" or "diamond"
	Color string
	Title string
	Text  string
}

type legendItem struct {
	Color string
	Label string
}

// Colours. Chosen for contrast on white and for colour-blind safety of the
// pass/fail pair (blue-green vs vermilion).
const (
	colGood    = "#2a9d63"
	colWarn    = "#e9a23b"
	colBad     = "#d1453b"
	colIdle    = "#a3acb6"
	colBusy    = "#7b4fa8"
	colOps     = "#4a7fc1"
	colFault   = "#d1453b"
	colStep    = "#3d4852"
	colUnknown = "#e9a23b"
	colLog     = "#6c7a89"
)

var otherStateColors = []string{"#3c8dbc", "#17a2b8", "#6f42c1", "#8c6d31", "#20c997", "#e83e8c"}

// clock maps times onto the plot's x axis.
type clock struct {
	t0 time.Time
	d  time.Duration
}

func (c clock) x(t time.Time) float64 {
	if t.Before(c.t0) {
		return picPlotX
	}
	f := float64(t.Sub(c.t0)) / float64(c.d)
	if f > 1 {
		f = 1
	}
	return picPlotX + f*picPlotW
}

// layoutPicture lays out sc's timeline. It aggregates so that the picture
// stays readable and small however many events the scenario recorded.
func layoutPicture(sc Scenario) *picture {
	evs := make([]timeline.Event, 0, len(sc.Timeline))
	for _, e := range sc.Timeline {
		if !e.Time.IsZero() {
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 && len(sc.Verdicts) == 0 {
		return nil
	}
	sortEvents(evs)
	t0, t1 := sc.Start, sc.End
	for _, e := range evs {
		if t0.IsZero() || e.Time.Before(t0) {
			t0 = e.Time
		}
		if t1.IsZero() || e.Time.After(t1) {
			t1 = e.Time
		}
		if !e.End.IsZero() && e.End.After(t1) {
			t1 = e.End
		}
	}
	for _, v := range sc.Verdicts {
		if !v.At.IsZero() && (t1.IsZero() || v.At.After(t1)) {
			t1 = v.At
		}
	}
	if t0.IsZero() && t1.IsZero() {
		return nil
	}
	if t0.IsZero() {
		t0 = t1
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	c := clock{t0: t0, d: t1.Sub(t0)}
	if c.d <= 0 { // Sub saturated on absurd times
		c.d = time.Second
	}

	p := &picture{Width: picWidth, PlotX: picPlotX, PlotW: picPlotW, AxisY: picAxisH - 6}
	p.Span = formatDur(c.d)
	p.Ticks = ticks(c.d)
	y := picAxisH

	add := func(l lane) {
		if short := fitText(l.Label, picLabelW-8); short != l.Label {
			l.Detail = l.Label + ": " + l.Detail
			l.Label = short
		}
		l.Y = y
		p.Lanes = append(p.Lanes, l)
		y += l.H + picGap
	}

	faults, states, work, steps, checks, logs := split(evs)

	// Fault lanes: one per fault and target, windows merged where they
	// touch in pixels.
	for _, g := range groupBy(faults, faultLaneName) {
		add(faultLane(c, g.lane, g.events, t1))
	}
	p.Bands = faultBands(c, faults, t1)

	stateColors := map[string]string{}
	for _, g := range groupByLane(states) {
		add(stateLane(c, g.lane, g.events, t1, stateColors))
	}
	for _, g := range groupByLane(work) {
		add(workloadLane(c, g.lane, g.events))
	}
	if len(steps) > 0 {
		add(markLane(c, "steps", steps, colStep, true))
	}
	if len(sc.Verdicts) > 0 || len(checks) > 0 {
		add(checkerLane(c, sc.Verdicts, checks, t1))
	}
	// Process events get a lane per process, unless there are so many
	// processes that one shared lane reads better.
	if groups := groupByLane(logs); len(groups) <= picMaxLogLanes {
		for _, g := range groups {
			add(markLane(c, "log "+orDash(g.lane), g.events, colLog, false))
		}
	} else {
		add(markLane(c, "notable logs", logs, colLog, false))
	}
	p.Height = y + 4

	// Legend: fault shading, then states in order of first use.
	if len(faults) > 0 {
		p.Legend = append(p.Legend, legendItem{colFault, "fault window"})
	}
	names := make([]string, 0, len(stateColors))
	for s := range stateColors {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		p.Legend = append(p.Legend, legendItem{stateColors[s], s})
	}
	if len(states) > 0 {
		p.Legend = append(p.Legend, legendItem{colBusy, "many changes (zoom: run.json)"})
	}
	if len(work) > 0 {
		p.Legend = append(p.Legend, legendItem{colOps, "ops ok"}, legendItem{colBad, "ops failed"}, legendItem{colUnknown, "ops unknown"})
	}
	return p
}

func split(evs []timeline.Event) (faults, states, work, steps, checks, logs []timeline.Event) {
	for _, e := range evs {
		switch e.Kind {
		case timeline.KindFault:
			faults = append(faults, e)
		case timeline.KindState:
			states = append(states, e)
		case timeline.KindWorkload:
			work = append(work, e)
		case timeline.KindStep:
			steps = append(steps, e)
		case timeline.KindChecker:
			checks = append(checks, e)
		case timeline.KindLog:
			logs = append(logs, e)
		}
	}
	return
}

type laneGroup struct {
	lane   string
	events []timeline.Event
}

// groupByLane groups events by Lane in order of first appearance.
func groupByLane(evs []timeline.Event) []laneGroup {
	return groupBy(evs, func(e timeline.Event) string { return e.Lane })
}

// groupBy groups events by key in order of first appearance.
func groupBy(evs []timeline.Event, key func(timeline.Event) string) []laneGroup {
	idx := map[string]int{}
	var out []laneGroup
	for _, e := range evs {
		k := key(e)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, laneGroup{lane: k})
		}
		out[i].events = append(out[i].events, e)
	}
	return out
}

// window is a fault interval in pixels, possibly several merged faults.
type window struct {
	x0, x1  float64
	n       int
	open    bool
	names   []string
	t0, t1  time.Time
	summary string
}

// mergeWindows turns fault events into pixel windows, merging those closer
// than a pixel so fifty short faults stay fifty visible slivers or one
// labelled block, never a smear of overlapping rectangles.
func mergeWindows(c clock, evs []timeline.Event, end time.Time) []window {
	ws := make([]window, 0, len(evs))
	for _, e := range evs {
		fe, open := e.End, e.End.IsZero()
		if open {
			fe = end
		}
		x0, x1 := c.x(e.Time), c.x(fe)
		if x1-x0 < 1 {
			x1 = x0 + 1
		}
		ws = append(ws, window{x0: x0, x1: x1, n: 1, open: open, names: []string{e.Name}, t0: e.Time, t1: fe})
	}
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].x0 < ws[j].x0 })
	var out []window
	for _, w := range ws {
		if k := len(out) - 1; k >= 0 && w.x0 <= out[k].x1+1 {
			m := &out[k]
			m.x1 = max(m.x1, w.x1)
			m.n += w.n
			m.open = m.open || w.open
			m.names = append(m.names, w.names...)
			if w.t1.After(m.t1) {
				m.t1 = w.t1
			}
			continue
		}
		out = append(out, w)
	}
	for i := range out {
		w := &out[i]
		from, to := rel(c, w.t0), rel(c, w.t1)
		if w.n == 1 {
			w.summary = fmt.Sprintf("%s  %s → %s", w.names[0], from, to)
		} else {
			w.summary = fmt.Sprintf("%d faults (%s)  %s → %s", w.n, countNames(w.names), from, to)
		}
		if w.open {
			w.summary += "  (never healed)"
		}
	}
	return out
}

// faultLaneName labels a fault's lane: the fault and, when known, its target.
func faultLaneName(e timeline.Event) string {
	name := e.Name
	if t := faultTarget(e); t != "" {
		name += " " + t
	}
	return name
}

func faultLane(c clock, name string, evs []timeline.Event, end time.Time) lane {
	l := lane{H: 18, Label: orDash(name)}
	ws := mergeWindows(c, evs, end)
	l.Detail = fmt.Sprintf("%d windows of %s", len(evs), orDash(name))
	if len(evs) > 1 {
		l.Label += fmt.Sprintf(" ×%d", len(evs))
	}
	for _, w := range ws {
		s := seg{X: w.x0, W: w.x1 - w.x0, Color: colFault, Title: w.summary, Open: w.open}
		if w.n == 1 {
			s.Text = fitText(w.names[0], s.W)
		} else {
			s.Text = fitText(fmt.Sprintf("%d×", w.n), s.W)
		}
		l.Segs = append(l.Segs, s)
	}
	return l
}

func faultBands(c clock, evs []timeline.Event, end time.Time) []band {
	var out []band
	for _, w := range mergeWindows(c, evs, end) {
		out = append(out, band{X: w.x0, W: w.x1 - w.x0, Open: w.open, Title: w.summary})
	}
	return out
}

// stateLane draws one resource's sampled states as coloured segments.
// Repeated samples of the same state are merged; stretches of changes too
// short to see are folded into one "busy" segment that counts them.
func stateLane(c clock, name string, evs []timeline.Event, end time.Time, colors map[string]string) lane {
	l := lane{H: 20, Label: orDash(name)}
	type run struct {
		state  string
		t0, t1 time.Time
	}
	var runs []run
	for _, e := range evs {
		if k := len(runs) - 1; k >= 0 && runs[k].state == e.Name {
			continue
		}
		runs = append(runs, run{state: e.Name, t0: e.Time})
	}
	for i := range runs {
		if i+1 < len(runs) {
			runs[i].t1 = runs[i+1].t0
		} else {
			runs[i].t1 = end
		}
	}
	l.Detail = fmt.Sprintf("%d samples, %d state changes", len(evs), max(len(runs)-1, 0))

	var busy []run
	flush := func() {
		switch len(busy) {
		case 0:
			return
		case 1:
			r := busy[0]
			x0 := c.x(r.t0)
			l.Segs = append(l.Segs, seg{X: x0, W: max(c.x(r.t1)-x0, 1), Color: stateColor(r.state, colors),
				Title: fmt.Sprintf("%s  %s → %s", r.state, rel(c, r.t0), rel(c, r.t1))})
		default:
			x0, x1 := c.x(busy[0].t0), c.x(busy[len(busy)-1].t1)
			names := make([]string, len(busy))
			for i, r := range busy {
				names[i] = r.state
				stateColor(r.state, colors) // keep it in the legend
			}
			l.Segs = append(l.Segs, seg{X: x0, W: max(x1-x0, 1), Color: colBusy,
				Title: fmt.Sprintf("%d state changes (%s)  %s → %s", len(busy), countNames(names),
					rel(c, busy[0].t0), rel(c, busy[len(busy)-1].t1))})
		}
		busy = busy[:0]
	}
	for _, r := range runs {
		x0, x1 := c.x(r.t0), c.x(r.t1)
		if x1-x0 < picMinSegW {
			busy = append(busy, r)
			continue
		}
		flush()
		s := seg{X: x0, W: x1 - x0, Color: stateColor(r.state, colors),
			Title: fmt.Sprintf("%s  %s → %s", r.state, rel(c, r.t0), rel(c, r.t1))}
		s.Text = fitText(r.state, s.W)
		l.Segs = append(l.Segs, s)
	}
	flush()
	return l
}

// workloadCounts reads how many operations an event stands for and their
// outcomes; see docs/reports.md for the convention. The workload generator
// reports windows with "ok", "failed" and "unknown" counts.
func workloadCounts(e timeline.Event) (ok, failed, unknown int) {
	_, hasOK := e.Detail["ok"]
	_, hasFailed := e.Detail["failed"]
	_, hasUnknown := e.Detail["unknown"]
	if hasOK || hasFailed || hasUnknown {
		failed = detailInt(e.Detail, "failed", 0)
		unknown = detailInt(e.Detail, "unknown", 0)
		ok = detailInt(e.Detail, "ok", -1)
		if ok < 0 {
			ok = max(detailInt(e.Detail, "count", 0)-failed-unknown, 0)
		}
		return ok, failed, unknown
	}
	n := detailInt(e.Detail, "count", 1)
	switch outcome := strings.ToLower(e.Name + " " + e.Detail["outcome"]); {
	case strings.Contains(outcome, "fail") || strings.Contains(outcome, "error"):
		return 0, n, 0
	case strings.Contains(outcome, "unknown"):
		return 0, 0, n
	}
	return n, 0, 0
}

func detailInt(d map[string]string, key string, def int) int {
	v, present := d[key]
	if !present {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return def
	}
	return min(n, 1<<40)
}

// workloadLane is a histogram of operations per time bucket, failures
// stacked in red above the successes. An event that covers a window
// (Time..End) is spread evenly over the buckets it spans.
func workloadLane(c clock, name string, evs []timeline.Event) lane {
	l := lane{H: 40}
	type bucket struct{ ok, failed, unknown float64 }
	var bs [picBuckets]bucket
	var tot struct{ ok, failed, unknown int }
	index := func(t time.Time) int {
		i := int((c.x(t) - picPlotX) / picPlotW * picBuckets)
		return min(max(i, 0), picBuckets-1)
	}
	for _, e := range evs {
		ok, f, u := workloadCounts(e)
		tot.ok += ok
		tot.failed += f
		tot.unknown += u
		i0, i1 := index(e.Time), index(e.Time)
		if e.End.After(e.Time) {
			i1 = index(e.End)
		}
		n := float64(i1 - i0 + 1)
		for i := i0; i <= i1; i++ {
			bs[i].ok += float64(ok) / n
			bs[i].failed += float64(f) / n
			bs[i].unknown += float64(u) / n
		}
	}
	l.Detail = fmt.Sprintf("%d ok, %d failed, %d unknown", tot.ok, tot.failed, tot.unknown)
	label := "workload"
	if name != "" && name != "workload" {
		label = name
	}
	l.Label = fmt.Sprintf("%s (%s ops)", label, shortCount(tot.ok+tot.failed+tot.unknown))
	peak := 1.0
	for _, b := range bs {
		peak = max(peak, b.ok+b.failed+b.unknown)
	}
	w := picPlotW / picBuckets
	inner := l.H - 4
	for i, b := range bs {
		if b.ok+b.failed+b.unknown == 0 {
			continue
		}
		x := picPlotX + float64(i)*w
		title := fmt.Sprintf("%.0f ok, %.0f failed, %.0f unknown", b.ok, b.failed, b.unknown)
		base := l.H - 2
		for _, part := range []struct {
			n     float64
			color string
		}{{b.ok, colOps}, {b.unknown, colUnknown}, {b.failed, colBad}} {
			if part.n == 0 {
				continue
			}
			h := max(inner*part.n/peak, 1.5)
			base -= h
			l.Bars = append(l.Bars, bar{X: x + 0.3, Y: base, W: w - 0.6, H: h, Color: part.color, Title: title})
		}
	}
	return l
}

// markLane draws point events as ticks, merging those closer than a label's
// width; numbered marks refer to the step list under the picture.
func markLane(c clock, label string, evs []timeline.Event, color string, numbered bool) lane {
	l := lane{H: 18, Label: fmt.Sprintf("%s (%d)", label, len(evs))}
	lastX := -1e9
	for i, e := range evs {
		x := c.x(e.Time)
		name := e.Name
		if numbered {
			name = fmt.Sprintf("%d. %s", i+1, e.Name)
		}
		if k := len(l.Marks) - 1; k >= 0 && x-lastX < picMarkSpace {
			m := &l.Marks[k]
			m.Title = appendTitle(m.Title, name)
			if numbered {
				m.Text = strings.SplitN(m.Text, "–", 2)[0] + "–" + strconv.Itoa(i+1)
			}
			continue
		}
		m := mark{X: x, Y: l.H / 2, Shape: "tick", Color: color, Title: rel(c, e.Time) + "  " + name}
		if numbered {
			m.Text = strconv.Itoa(i + 1)
		}
		l.Marks = append(l.Marks, m)
		lastX = x
	}
	return l
}

// checkerLane places verdicts (and checker events that no verdict covers)
// as diamonds coloured by outcome.
func checkerLane(c clock, vs []checkers.Verdict, evs []timeline.Event, end time.Time) lane {
	l := lane{H: 20, Label: "checkers"}
	type point struct {
		t       time.Time
		name    string
		outcome checkers.Outcome
		summary string
	}
	var pts []point
	type key struct {
		checker string
		at      int64
	}
	seen := map[key]bool{}
	for _, v := range vs {
		t := v.At
		if t.IsZero() {
			t = end
		}
		pts = append(pts, point{t, v.Checker, v.Outcome, v.Summary})
		seen[key{v.Checker, t.UnixNano()}] = true
	}
	for _, e := range evs {
		// Two conventions: Lane "checker/<name>" with the outcome as Name
		// (checkers.Record), or Name = checker with Detail["outcome"].
		name, outcome := e.Name, e.Detail["outcome"]
		if rest, ok := strings.CutPrefix(e.Lane, "checker/"); ok && rest != "" {
			name = rest
			if outcome == "" {
				outcome = e.Name
			}
		}
		if seen[key{name, e.Time.UnixNano()}] {
			continue
		}
		seen[key{name, e.Time.UnixNano()}] = true
		pts = append(pts, point{e.Time, name, checkers.Outcome(outcome), e.Detail["summary"]})
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].t.Before(pts[j].t) })
	lastX := -1e9
	for _, p := range pts {
		x := c.x(p.t)
		title := fmt.Sprintf("%s: %s %s", p.name, orDash(string(p.outcome)), p.summary)
		col := outcomeColor(p.outcome)
		if k := len(l.Marks) - 1; k >= 0 && x-lastX < picMarkSpace {
			m := &l.Marks[k]
			m.Title = appendTitle(m.Title, title)
			if col == colBad || (col == colUnknown && m.Color == colGood) {
				m.Color = col // the worst outcome wins the colour
			}
			continue
		}
		l.Marks = append(l.Marks, mark{X: x, Y: l.H / 2, Shape: "diamond", Color: col, Title: rel(c, p.t) + "  " + title})
		lastX = x
	}
	return l
}

func outcomeColor(o checkers.Outcome) string {
	switch o {
	case checkers.Pass:
		return colGood
	case checkers.Fail:
		return colBad
	}
	return colUnknown
}

// stateColor gives a state a colour by meaning: bad words red, transitional
// amber, good green, idle grey; others get a stable colour of their own.
func stateColor(state string, used map[string]string) string {
	if c, ok := used[state]; ok {
		return c
	}
	c := classifyState(state)
	if c == "" {
		c = otherStateColors[len(used)%len(otherStateColors)]
	}
	used[state] = c
	return c
}

func classifyState(state string) string {
	words := strings.FieldsFunc(strings.ToLower(state), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
	has := func(set ...string) bool {
		for _, w := range words {
			for _, s := range set {
				if w == s {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("faulted", "err", "error", "failed", "crashed", "crash", "down", "stopped", "dead", "lost", "crashloop", "stuck"):
		return colBad
	case has("degraded", "rebuilding", "wo", "attaching", "detaching", "starting", "creating", "upgrading",
		"restoring", "stopping", "pending", "deleting", "salvaging", "syncing"):
		return colWarn
	case has("healthy", "attached", "running", "rw", "ready", "up", "online", "completed", "active"):
		return colGood
	case has("detached", "unknown", "deleted", "none", "idle"):
		return colIdle
	}
	return ""
}

// ticks picks a round step that gives at most ten labelled ticks.
func ticks(d time.Duration) []tick {
	steps := []time.Duration{
		10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if d/s <= 10 {
			step = s
			break
		}
	}
	for d/step > 12 { // very long spans
		step *= 2
	}
	// Count ticks rather than add steps: t += step overflows near the
	// largest durations.
	n := int(d / step)
	out := make([]tick, 0, n+1)
	for i := range n + 1 {
		t := time.Duration(i) * step
		out = append(out, tick{X: picPlotX + float64(t)/float64(d)*picPlotW, Label: formatDur(t)})
	}
	return out
}

func rel(c clock, t time.Time) string {
	if t.Before(c.t0) {
		return "+0s"
	}
	return "+" + formatDur(t.Sub(c.t0))
}

// formatDur prints a duration compactly: 850ms, 12.5s, 3m05s, 1h02m.
func formatDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		s := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
		return strings.TrimSuffix(s, ".0") + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// fitText returns s if it fits in w units at the picture's label size
// (about 6.2 units a character), else a shortened s, else "".
func fitText(s string, w float64) string {
	room := int((w - 6) / 6.2)
	r := []rune(s)
	switch {
	case room >= len(r):
		return s
	case room >= 4:
		return string(r[:room-1]) + "…"
	}
	return ""
}

// countNames summarises names as "a×3, b" keeping first-seen order and at
// most four distinct names.
func countNames(names []string) string {
	counts := map[string]int{}
	var order []string
	for _, n := range names {
		if counts[n] == 0 {
			order = append(order, n)
		}
		counts[n]++
	}
	var parts []string
	for i, n := range order {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("+%d more", len(order)-4))
			break
		}
		if counts[n] > 1 {
			parts = append(parts, fmt.Sprintf("%s×%d", n, counts[n]))
		} else {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}

// appendTitle adds a line to a merged mark's tooltip, bounded to a dozen.
func appendTitle(title, line string) string {
	n := strings.Count(title, "\n")
	switch {
	case n < 11:
		return title + "\n" + line
	case n == 11:
		return title + "\n…"
	}
	return title
}

func shortCount(n int) string {
	switch {
	case n >= 10_000_000:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 10_000:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}
