package reports

import (
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// JUnit size bounds. CI viewers choke on huge files (kubernetes#111510), so
// the XML carries a summary and points to report.html for the rest.
const (
	junitBodyMax      = 4 << 10  // failure body per test case
	junitSystemOutMax = 16 << 10 // system-out per failed test case
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitSkipped `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// WriteJUnit writes run as a trimmed JUnit XML file: one test suite, one
// test case per scenario; failure bodies hold the failure and the verdict
// summaries, and system-out (log tails) appears only for failed scenarios.
// Interrupted scenarios are reported as errors.
func WriteJUnit(run Run, path string) error {
	b, err := junitBytes(run)
	if err != nil {
		return fmt.Errorf("junit for run %s: %w", run.ID, err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("write junit %s: %w", path, err)
	}
	return nil
}

func junitBytes(run Run) ([]byte, error) {
	suite := junitSuite{
		Name: "faultline",
		Time: seconds(run.Finished.Sub(run.Started)),
		Properties: []junitProperty{
			{"run", run.ID},
			{"seed", strconv.FormatInt(run.Seed, 10)},
			{"defects", strings.Join(run.Defects, ",")},
			{"cluster", run.Cluster},
			{"command", run.Command},
			{"faultline", run.Versions.Faultline},
			{"refengine", run.Versions.Refengine},
			{"go", run.Versions.Go},
			{"os", run.Versions.OS},
		},
	}
	if run.Versions.Kubernetes != "" {
		suite.Properties = append(suite.Properties, junitProperty{"kubernetes", run.Versions.Kubernetes})
	}
	if run.Started.IsZero() || run.Finished.Before(run.Started) {
		suite.Time = seconds(0)
	}
	if !run.Started.IsZero() {
		suite.Timestamp = run.Started.UTC().Format("2006-01-02T15:04:05")
	}
	for _, sc := range run.Scenarios {
		c := junitCase{
			Name:      sc.Name,
			Classname: "faultline",
			Time:      seconds(sc.Duration()),
		}
		if len(sc.Labels) > 0 && sc.Labels[0] != "" {
			c.Classname = sc.Labels[0]
		}
		switch sc.State {
		case StateFailed:
			suite.Failures++
			c.Failure = junitProblemOf(sc, "failed")
			c.SystemOut = junitSystemOut(sc)
		case StateInterrupted:
			suite.Errors++
			c.Error = junitProblemOf(sc, "interrupted")
			c.SystemOut = junitSystemOut(sc)
		case StateSkipped:
			suite.Skipped++
			c.Skipped = &junitSkipped{}
			if sc.Failure != nil {
				c.Skipped.Message = firstLine(sc.Failure.Message)
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	all := junitSuites{
		Name:     "faultline " + run.ID,
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Errors:   suite.Errors,
		Skipped:  suite.Skipped,
		Time:     suite.Time,
		Suites:   []junitSuite{suite},
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

func junitProblemOf(sc Scenario, kind string) *junitProblem {
	p := &junitProblem{Type: kind}
	var body strings.Builder
	if sc.Failure != nil {
		p.Message = firstLine(sc.Failure.Message)
		body.WriteString(sc.Failure.Message)
		if sc.Failure.Location != "" {
			body.WriteString("\nat " + sc.Failure.Location)
		}
		body.WriteString("\n")
	}
	if c := sc.FailingChecker(); c != "" {
		p.Type = "checker:" + c
		if p.Message == "" {
			p.Message = "checker " + c + " did not pass"
		}
	}
	if p.Message == "" {
		p.Message = "scenario " + kind
	}
	if len(sc.Verdicts) > 0 {
		body.WriteString("\nverdicts:\n")
		for _, v := range sc.Verdicts {
			fmt.Fprintf(&body, "  [%s] %s: %s", v.Outcome, v.Checker, v.Summary)
			if n := len(v.Evidence); n > 0 {
				fmt.Fprintf(&body, " (%d evidence)", n)
			}
			body.WriteString("\n")
		}
	}
	if sc.Reproduce != "" {
		body.WriteString("\nreproduce: " + sc.Reproduce + "\n")
	}
	p.Message = truncate(p.Message, 512)
	p.Body = truncate(body.String(), junitBodyMax)
	return p
}

func junitSystemOut(sc Scenario) string {
	if len(sc.LogTails) == 0 {
		return ""
	}
	names := make([]string, 0, len(sc.LogTails))
	for n := range sc.LogTails {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "===== %s (last lines) =====\n%s\n", n, sc.LogTails[n])
	}
	// Keep the end: the last lines are the ones nearest the failure.
	return truncateHead(b.String(), junitSystemOutMax)
}

func seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// truncate keeps the first max bytes of s (on a rune boundary) and says how
// much was cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n… (%d bytes cut; see report.html)", len(s)-cut)
}

// truncateHead keeps the last max bytes of s.
func truncateHead(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := len(s) - max
	for cut < len(s) && !utf8Start(s[cut]) {
		cut++
	}
	return fmt.Sprintf("… (%d bytes cut; see report.html)\n", cut) + s[cut:]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
