package reports

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func writeSampleJUnit(t *testing.T, run Run) (junitSuites, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), JUnitFile)
	if err := WriteJUnit(run, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	return got, b
}

func TestJUnitStructure(t *testing.T) {
	run := sampleRun()
	got, raw := writeSampleJUnit(t, run)

	if len(got.Suites) != 1 {
		t.Fatalf("%d test suites, want 1", len(got.Suites))
	}
	s := got.Suites[0]
	if s.Tests != 4 || s.Failures != 1 || s.Errors != 1 || s.Skipped != 1 || len(s.Cases) != 4 {
		t.Fatalf("suite counts tests=%d failures=%d errors=%d skipped=%d cases=%d", s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases))
	}
	if got.Tests != s.Tests || got.Failures != s.Failures || got.Errors != s.Errors {
		t.Errorf("testsuites totals %+v differ from the suite", got)
	}
	if s.Time != "660.000" {
		t.Errorf("suite time = %q, want 660.000", s.Time)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["seed"] != "424242" || props["defects"] != "im-restart-stale-head-cache" || props["command"] != run.Command {
		t.Errorf("properties = %v", props)
	}
	if _, ok := props["kubernetes"]; ok {
		t.Errorf("a local run names a Kubernetes version: %v", props)
	}

	smoke, loop, skipped, intr := s.Cases[0], s.Cases[1], s.Cases[2], s.Cases[3]
	if smoke.Classname != "smoke" || smoke.Time != "10.500" || smoke.Failure != nil || smoke.SystemOut != "" {
		t.Errorf("passed case = %+v", smoke)
	}
	if loop.Classname != "seed" || loop.Failure == nil || loop.Error != nil {
		t.Fatalf("failed case = %+v", loop)
	}
	if loop.Failure.Type != "checker:state" || !strings.HasPrefix(loop.Failure.Message, "volume im-loop did not become") {
		t.Errorf("failure type=%q message=%q", loop.Failure.Type, loop.Failure.Message)
	}
	for _, want := range []string{"scenarios/im_restart_loop.go:88", "[fail] history: 230 lost writes (230 evidence)",
		"[unknown] checksum", "reproduce: faultline run"} {
		if !strings.Contains(loop.Failure.Body, want) {
			t.Errorf("failure body lacks %q:\n%s", want, loop.Failure.Body)
		}
	}
	if !strings.Contains(loop.SystemOut, "===== node-2 (last lines) =====") {
		t.Errorf("failed case lacks log tails in system-out")
	}
	if len(loop.SystemOut) > junitSystemOutMax+100 || len(loop.Failure.Body) > junitBodyMax+100 {
		t.Errorf("unbounded: system-out %d bytes, body %d bytes", len(loop.SystemOut), len(loop.Failure.Body))
	}
	if skipped.Skipped == nil || skipped.Failure != nil {
		t.Errorf("skipped case = %+v", skipped)
	}
	if intr.Error == nil || intr.Error.Type != "interrupted" || intr.Failure != nil {
		t.Errorf("interrupted case = %+v", intr)
	}
	if !bytes.HasPrefix(raw, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("missing XML header")
	}
}

// A run on kind names the cluster and the Kubernetes version it ran on.
func TestJUnitNamesKubernetes(t *testing.T) {
	run := sampleRun()
	run.Cluster, run.Versions.Kubernetes = "kind", "v1.34.4"
	got, _ := writeSampleJUnit(t, run)
	props := map[string]string{}
	for _, p := range got.Suites[0].Properties {
		props[p.Name] = p.Value
	}
	if props["cluster"] != "kind" || props["kubernetes"] != "v1.34.4" {
		t.Errorf("properties = %v", props)
	}
}

func TestJUnitEscapesHostileText(t *testing.T) {
	run := sampleRun()
	run.Scenarios[0].Name = hostile
	run.Scenarios[1].Failure.Message = hostile + "\nsecond line ]]> <![CDATA["
	run.Scenarios[1].LogTails = map[string]string{"node\x00-1": "\x00\x1b" + hostile}
	got, raw := writeSampleJUnit(t, run)

	for _, bad := range []string{"<script>", "\x01", "\x07", "\x1b", "\x00"} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("junit.xml holds raw %q", bad)
		}
	}
	if !utf8.Valid(raw) {
		t.Error("junit.xml is not valid UTF-8")
	}
	c := got.Suites[0].Cases
	if !strings.Contains(c[0].Name, `<script>alert("x")</script> & 'q'`) {
		t.Errorf("name did not survive escaping: %q", c[0].Name)
	}
	if !strings.Contains(c[1].Failure.Body, "]]> <![CDATA[") {
		t.Errorf("body did not survive escaping: %q", c[1].Failure.Body)
	}
}

func TestJUnitBoundsHugeOutput(t *testing.T) {
	run := sampleRun()
	huge := strings.Repeat("é log line that goes on\n", 10000)
	run.Scenarios[1].LogTails = map[string]string{"node-1": huge, "node-2": huge}
	run.Scenarios[1].Failure.Message = huge
	got, raw := writeSampleJUnit(t, run)
	loop := got.Suites[0].Cases[1]
	if len(loop.SystemOut) > junitSystemOutMax+100 || len(loop.Failure.Body) > junitBodyMax+100 || len(loop.Failure.Message) > 600 {
		t.Errorf("not bounded: system-out %d, body %d, message %d", len(loop.SystemOut), len(loop.Failure.Body), len(loop.Failure.Message))
	}
	if !strings.Contains(loop.SystemOut, "bytes cut") || !strings.Contains(loop.Failure.Body, "bytes cut") {
		t.Error("truncation not marked")
	}
	if !utf8.Valid(raw) {
		t.Error("truncation split a rune")
	}
	if len(raw) > 64<<10 {
		t.Errorf("junit.xml is %d bytes", len(raw))
	}
}

func TestJUnitEmptyRun(t *testing.T) {
	got, _ := writeSampleJUnit(t, Run{ID: "empty"})
	if len(got.Suites) != 1 || got.Suites[0].Tests != 0 || got.Suites[0].Time != "0.000" {
		t.Fatalf("empty run junit = %+v", got)
	}
}

// TestJUnitXmllint validates with libxml2 when xmllint is installed. It is
// optional even under CI: .ci/run does not install libxml2-utils.
func TestJUnitXmllint(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not found (Debian package libxml2-utils); optional check")
	}
	path := filepath.Join(t.TempDir(), JUnitFile)
	run := sampleRun()
	run.Scenarios[0].Name = hostile
	if err := WriteJUnit(run, path); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", path).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}
