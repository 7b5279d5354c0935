package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

func entry(name string, v any) types.ReportEntry {
	return types.ReportEntry{Name: name, Value: types.WrapEntryValue(v)}
}

// viaJSON sends an entry through JSON, as Ginkgo does between parallel
// processes and in ginkgo.json: the raw value becomes AsJSON.
func viaJSON(t *testing.T, e types.ReportEntry) types.ReportEntry {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var out types.ReportEntry
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Value.AsJSON == "" {
		t.Fatal("entry lost its AsJSON on the way through JSON")
	}
	return out
}

var (
	gT0      = time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	gVerdict = checkers.Verdict{Checker: "history", Outcome: checkers.Fail, Summary: "3 lost writes",
		Evidence: []checkers.Evidence{{What: "lost write", Expected: "gen 4", Actual: "gen 3"}}, At: gT0.Add(time.Minute)}
	gEvents = []timeline.Event{
		{Time: gT0.Add(2 * time.Second), End: gT0.Add(5 * time.Second), Kind: timeline.KindFault, Lane: "node-1", Name: "node-stop"},
		{Time: gT0.Add(time.Second), Kind: timeline.KindStep, Name: "write"},
	}
)

func ginkgoSample(t *testing.T) types.Report {
	var longLog strings.Builder
	for i := range 100 {
		fmt.Fprintf(&longLog, "line %d\n", i)
	}
	verdictJSON, err := json.Marshal(gVerdict)
	if err != nil {
		t.Fatal(err)
	}
	return types.Report{
		SuitePath:        "/work/main/scenarios",
		SuiteDescription: "faultline scenarios",
		SuiteSucceeded:   false,
		StartTime:        gT0,
		EndTime:          gT0.Add(10 * time.Minute),
		SpecReports: types.SpecReports{
			{ // setup nodes that passed are not scenarios
				LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStatePassed,
			},
			{ // raw Go values, as in the process that ran the spec
				ContainerHierarchyTexts:  []string{"smoke"},
				ContainerHierarchyLabels: [][]string{{"smoke"}},
				LeafNodeType:             types.NodeTypeIt,
				LeafNodeText:             "writes and reads back",
				LeafNodeLabels:           []string{"v2", "smoke"},
				State:                    types.SpecStatePassed,
				StartTime:                gT0,
				EndTime:                  gT0.Add(30 * time.Second),
				ReportEntries: types.ReportEntries{
					entry(EntrySeed, int64(77)),
					entry(EntryVerdict, checkers.Verdict{Checker: "checksum", Outcome: checkers.Pass, Summary: "stable"}),
					entry(EntryTimeline, gEvents),
					entry(EntryLogs, map[string]string{"node-1": longLog.String()}),
					entry(EntryReproduce, "faultline run --label-filter smoke --seed 77"),
					entry(EntryArtifacts, []string{"logs/node-1.log"}),
					entry("someone-elses-entry", 12),
				},
			},
			{ // values that came through JSON, one verdict pre-encoded as a string
				ContainerHierarchyTexts: []string{"im-restart-loop"},
				LeafNodeType:            types.NodeTypeIt,
				LeafNodeText:            "recovers 50 times",
				LeafNodeLabels:          []string{"seed"},
				State:                   types.SpecStateFailed,
				StartTime:               gT0.Add(time.Minute),
				EndTime:                 gT0.Add(3 * time.Minute),
				Failure: types.Failure{
					Message:  "volume stayed faulted",
					Location: types.CodeLocation{FileName: "scenarios/im_loop.go", LineNumber: 42},
				},
				CapturedGinkgoWriterOutput: "STEP: delete im\nSTEP: wait healthy\n",
				ReportEntries: types.ReportEntries{
					viaJSON(t, entry(EntrySeed, int64(78))),
					viaJSON(t, entry(EntryVerdict, string(verdictJSON))),
					viaJSON(t, entry(EntryVerdict, []checkers.Verdict{{Checker: "state", Outcome: checkers.Unknown, Summary: "timeout"}})),
					viaJSON(t, entry(EntryTimeline, gEvents)),
					viaJSON(t, entry(EntryLogs, map[string]string{"manager": "boom\n"})),
				},
			},
			{
				LeafNodeType: types.NodeTypeIt, LeafNodeText: "skipped one", State: types.SpecStateSkipped,
				Failure: types.Failure{Message: "needs kind"},
			},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "pending one", State: types.SpecStatePending},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "interrupted one", State: types.SpecStateInterrupted,
				Failure: types.Failure{Message: "interrupted by user"}},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "timed out one", State: types.SpecStateTimedout,
				Failure: types.Failure{Message: "A spec timeout occurred"}},
			{LeafNodeType: types.NodeTypeIt, LeafNodeText: "panicked one", State: types.SpecStatePanicked,
				Failure: types.Failure{Message: "Test Panicked", ForwardedPanic: "nil map"}},
			{ // a broken seed entry is noted, not fatal
				LeafNodeType: types.NodeTypeIt, LeafNodeText: "bad entry", State: types.SpecStatePassed,
				ReportEntries: types.ReportEntries{entry(EntrySeed, "not a number"), entry(EntryTimeline, 5)},
			},
			{LeafNodeType: types.NodeTypeAfterSuite, State: types.SpecStateFailed,
				Failure: types.Failure{Message: "cluster teardown failed"}},
		},
	}
}

var testMeta = RunMeta{
	ID: "run-1", Command: "faultline run --seed 5", Seed: 5, Defects: []string{"d1"},
	Versions: Versions{Faultline: "f", Refengine: "r", Go: "g", OS: "o"}, Cluster: "local",
}

func TestFromGinkgo(t *testing.T) {
	run := FromGinkgo(ginkgoSample(t), testMeta)

	if run.ID != "run-1" || run.Seed != 5 || run.Cluster != "local" || run.Command != testMeta.Command ||
		!run.Started.Equal(gT0) || !run.Finished.Equal(gT0.Add(10*time.Minute)) {
		t.Fatalf("run header = %+v", run)
	}
	type row struct {
		Name  string
		State State
	}
	var got []row
	for _, sc := range run.Scenarios {
		got = append(got, row{sc.Name, sc.State})
	}
	want := []row{
		{"smoke writes and reads back", StatePassed},
		{"im-restart-loop recovers 50 times", StateFailed},
		{"skipped one", StateSkipped},
		{"pending one", StateSkipped},
		{"interrupted one", StateInterrupted},
		{"timed out one", StateFailed},
		{"panicked one", StateFailed},
		{"bad entry", StatePassed},
		{"[AfterSuite]", StateFailed},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("scenarios (-want +got):\n%s", diff)
	}
	if run.Summary != (Summary{Total: 9, Passed: 2, Failed: 4, Skipped: 2, Interrupted: 1}) {
		t.Errorf("summary = %+v", run.Summary)
	}

	smoke := run.Scenarios[0]
	if diff := cmp.Diff([]string{"smoke", "v2"}, smoke.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if smoke.Seed != 77 || smoke.Reproduce != "faultline run --label-filter smoke --seed 77" {
		t.Errorf("seed/reproduce = %d %q", smoke.Seed, smoke.Reproduce)
	}
	if len(smoke.Verdicts) != 1 || smoke.Verdicts[0].Checker != "checksum" {
		t.Errorf("verdicts = %+v", smoke.Verdicts)
	}
	if len(smoke.Timeline) != 2 || smoke.Timeline[0].Name != "write" {
		t.Errorf("timeline not sorted by time: %+v", smoke.Timeline)
	}
	if len(smoke.Faults) != 1 || smoke.Faults[0].Name != "node-stop" || !smoke.Faults[0].Healed {
		t.Errorf("faults = %+v", smoke.Faults)
	}
	tail := smoke.LogTails["node-1"]
	if n := strings.Count(tail, "\n") + 1; n != LogTailLines || !strings.HasSuffix(tail, "line 99") || !strings.HasPrefix(tail, "line 40\n") {
		t.Errorf("log tail has %d lines: %q…", n, tail[:min(len(tail), 40)])
	}
	if diff := cmp.Diff([]string{"logs/node-1.log"}, smoke.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if smoke.Failure != nil || len(smoke.Notes) != 0 || smoke.Duration() != 30*time.Second {
		t.Errorf("smoke failure=%v notes=%v duration=%v", smoke.Failure, smoke.Notes, smoke.Duration())
	}

	loop := run.Scenarios[1]
	if loop.Seed != 78 {
		t.Errorf("seed from JSON entry = %d, want 78", loop.Seed)
	}
	if diff := cmp.Diff(&Failure{Message: "volume stayed faulted", Location: "scenarios/im_loop.go:42"}, loop.Failure); diff != "" {
		t.Errorf("failure (-want +got):\n%s", diff)
	}
	wantVerdicts := []checkers.Verdict{gVerdict, {Checker: "state", Outcome: checkers.Unknown, Summary: "timeout"}}
	if diff := cmp.Diff(wantVerdicts, loop.Verdicts); diff != "" {
		t.Errorf("verdicts through JSON (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(gEvents[1], loop.Timeline[0]); diff != "" {
		t.Errorf("timeline through JSON (-want +got):\n%s", diff)
	}
	if loop.LogTails["manager"] != "boom" || !strings.Contains(loop.LogTails["ginkgo-writer"], "STEP: wait healthy") {
		t.Errorf("log tails = %q", loop.LogTails)
	}
	if loop.Reproduce != testMeta.Command {
		t.Errorf("default reproduce = %q, want the run command", loop.Reproduce)
	}
	if loop.FailingChecker() != "history" {
		t.Errorf("failing checker = %q", loop.FailingChecker())
	}

	if m := run.Scenarios[2].Failure; m == nil || m.Message != "needs kind" {
		t.Errorf("skip message = %+v", m)
	}
	if m := run.Scenarios[6].Failure.Message; !strings.Contains(m, "nil map") {
		t.Errorf("panic message = %q", m)
	}
	bad := run.Scenarios[7]
	if len(bad.Notes) != 2 || !strings.Contains(bad.Notes[0], EntrySeed) || !strings.Contains(bad.Notes[1], EntryTimeline) {
		t.Errorf("notes for unreadable entries = %q", bad.Notes)
	}
}

func TestFromGinkgoReproduceHook(t *testing.T) {
	meta := testMeta
	meta.Reproduce = func(sc Scenario) string { return "faultline run --focus '" + sc.Name + "'" }
	run := FromGinkgo(ginkgoSample(t), meta)
	if got := run.Scenarios[1].Reproduce; got != "faultline run --focus 'im-restart-loop recovers 50 times'" {
		t.Errorf("reproduce = %q", got)
	}
	if got := run.Scenarios[0].Reproduce; got != "faultline run --label-filter smoke --seed 77" {
		t.Errorf("an attached reproduce command lost to the hook: %q", got)
	}
}

// TestFromGinkgoJSONReport checks that a report read back from ginkgo.json
// (every entry as AsJSON) maps to the same run as the in-memory report.
func TestFromGinkgoJSONReport(t *testing.T) {
	rep := ginkgoSample(t)
	path := filepath.Join(t.TempDir(), "ginkgo.json")
	if err := reporters.GenerateJSONReport(rep, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back []types.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 1 {
		t.Fatalf("read ginkgo.json: %v (%d reports)", err, len(back))
	}
	want := FromGinkgo(rep, testMeta)
	got := FromGinkgo(back[0], testMeta)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("run from ginkgo.json differs (-memory +json):\n%s", diff)
	}
}

func TestDecodeEntry(t *testing.T) {
	tests := []struct {
		name    string
		val     types.ReportEntryValue
		want    int64
		wantErr bool
	}{
		{"raw int", types.WrapEntryValue(int64(9)), 9, false},
		{"raw numeric string", types.WrapEntryValue("10"), 10, false},
		{"as json", types.ReportEntryValue{AsJSON: "11"}, 11, false},
		{"as json string", types.ReportEntryValue{AsJSON: `"12"`}, 12, false},
		{"empty", types.ReportEntryValue{}, 0, true},
		{"garbage", types.ReportEntryValue{AsJSON: "{"}, 0, true},
		{"wrong type", types.WrapEntryValue([]int{1}), 0, true},
		{"unencodable", types.WrapEntryValue(func() {}), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got int64
			err := DecodeEntry(tt.val, &got)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("DecodeEntry = %d, %v; want %d, err=%v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, s := range []string{`7`, `"7"`, `{"checker":"x","outcome":"pass"}`, `[{"time":"2026-01-01T00:00:00Z"}]`, `"\"[]\""`, `{`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc := Scenario{}
		for _, name := range []string{EntrySeed, EntryVerdict, EntryTimeline, EntryLogs, EntryReproduce, EntryArtifacts} {
			_ = applyEntry(&sc, types.ReportEntry{Name: name, Value: types.ReportEntryValue{AsJSON: s}})
		}
	})
}
