package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/faultline/faultline/timeline"
)

func TestRunRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := sampleRun()
	if err := want.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("run.json round trip changed the run (-want +got):\n%s", diff)
	}
	if got.Summary != (Summary{Total: 4, Passed: 1, Failed: 1, Skipped: 1, Interrupted: 1}) {
		t.Fatalf("summary = %+v", got.Summary)
	}
	// No temporary files are left beside run.json.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != RunFile {
		t.Fatalf("dir holds %v, want only %s", ents, RunFile)
	}
}

func TestSaveSetsFormat(t *testing.T) {
	dir := t.TempDir()
	if err := (Run{ID: "x"}).Save(dir); err != nil {
		t.Fatal(err)
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != FormatVersion {
		t.Fatalf("format = %d, want %d", r.Format, FormatVersion)
	}
}

func TestDecodeRunRejectsBadInput(t *testing.T) {
	good, err := json.Marshal(sampleRun())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "decode"},
		{"not json", "<html>", "decode"},
		{"truncated", string(good[:len(good)/2]), "decode"},
		{"wrong type", `{"format":1,"scenarios":"many"}`, "decode"},
		{"trailing", string(good) + `{"id":"second"}`, "trailing"},
		{"no format", `{"id":"x"}`, "unsupported format 0"},
		{"future format", `{"format":99,"id":"x"}`, "unsupported format 99"},
		{"bad state", `{"format":1,"scenarios":[{"name":"a","state":"exploded"}]}`, `unknown state "exploded"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRun([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeRun error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := DecodeRun(good); err != nil {
		t.Fatalf("DecodeRun(good) = %v", err)
	}
}

func TestLoadMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "load run") {
		t.Fatalf("Load(empty dir) error = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RunFile), []byte(`{"format":1,`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, RunFile)) {
		t.Fatalf("Load(corrupt) error = %v, want the path in it", err)
	}
}

func TestScenarioHelpers(t *testing.T) {
	loop := loopScenario(newRand())
	if got := loop.FailingChecker(); got != "state" {
		t.Errorf("FailingChecker = %q, want state", got)
	}
	if d := loop.Duration(); d <= 0 {
		t.Errorf("Duration = %v", d)
	}
	rev := Scenario{Start: sampleT0.Add(1), End: sampleT0}
	if d := rev.Duration(); d != 0 {
		t.Errorf("reversed Duration = %v, want 0", d)
	}
	if got := smokeScenario().FailingChecker(); got != "" {
		t.Errorf("passing scenario FailingChecker = %q", got)
	}
	r := sampleRun()
	if r.Passed() {
		t.Error("run with a failed scenario Passed")
	}
	r.Scenarios = r.Scenarios[:1]
	if !r.Passed() {
		t.Error("run of one passed scenario did not pass")
	}
}

func TestFaultsOf(t *testing.T) {
	loop := loopScenario(newRand())
	fs := FaultsOf(loop.Timeline)
	if len(fs) != 50 {
		t.Fatalf("got %d faults, want 50", len(fs))
	}
	for i, f := range fs {
		if f.Name != "im-delete" || f.Target != "node-2" || !f.Healed || !f.End.After(f.Start) {
			t.Fatalf("fault %d = %+v", i, f)
		}
		if i > 0 && f.Start.Before(fs[i-1].Start) {
			t.Fatalf("faults out of order at %d", i)
		}
	}
	unhealed := FaultsOf([]timeline.Event{
		{Time: sampleT0, Kind: timeline.KindFault, Lane: "node-1", Name: "node-stop"},
		{Time: sampleT0, Kind: timeline.KindStep, Name: "not a fault"},
		{Kind: timeline.KindFault, Name: "no time"},
	})
	if len(unhealed) != 1 || unhealed[0].Healed {
		t.Fatalf("unhealed fault = %+v", unhealed)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"a\nb\nc", 1, "c"},
		{"a\nb\nc", 0, ""},
		{"only", 1, "only"},
	}
	for _, tt := range tests {
		if got := Tail(tt.in, tt.n); got != tt.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
