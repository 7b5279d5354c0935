package workflowlint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// workflowsDir is the repository's workflow directory, seen from this package's directory.
var workflowsDir = filepath.Join("..", "..", ".github", "workflows")

// TestWorkflows lints every workflow of the repository: none may have an error.
func TestWorkflows(t *testing.T) {
	files, err := Files(workflowsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no workflow in %s", workflowsDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			errs, err := Lint(f, src)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				t.Errorf("%s", e)
			}
		})
	}
}

// TestLintReportsBrokenWorkflows proves the linter catches what it is here for: each workflow
// below has one mistake, and actionlint must report it (by its rule kind and a message fragment).
func TestLintReportsBrokenWorkflows(t *testing.T) {
	// A valid workflow; each case replaces one line of it.
	const good = `name: t
on:
  schedule:
    - cron: "17 2 * * *"
  workflow_dispatch: {}
permissions:
  contents: read
jobs:
  e2e:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - run: make e2e
        if: ${{ github.event_name == 'schedule' }}
`
	tests := []struct {
		name      string
		old, new  string // good with old replaced by new
		kind, msg string // an error of this kind whose message contains msg
	}{
		{"unknown runner label", "runs-on: ubuntu-latest", "runs-on: ubuntu-lastest",
			"runner-label", `label "ubuntu-lastest" is unknown`},
		{"missing runs-on", "    runs-on: ubuntu-latest\n", "",
			"syntax-check", `"runs-on" section is missing`},
		{"bad expression", "github.event_name == 'schedule'", "github.event_name == 'schedule'))",
			"expression", "parser did not reach end of input"},
		{"undefined context", "github.event_name", "gihtub.event_name",
			"expression", `undefined variable "gihtub"`},
		{"bad cron", `cron: "17 2 * * *"`, `cron: "17 25 * * *"`,
			"events", "invalid CRON format"},
		{"unknown action input", "- uses: actions/checkout@v4", "- uses: actions/checkout@v4\n        with: {fetch-deepth: 1}",
			"action", `input "fetch-deepth" is not defined`},
		{"unknown permission", "contents: read", "contents: raed",
			"permissions", `"raed" is invalid`},
	}
	if errs, err := Lint("good.yml", []byte(good)); err != nil || len(errs) > 0 {
		t.Fatalf("the valid workflow: %v %v", errs, err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("%q is not in the valid workflow", tc.old)
			}
			src := strings.Replace(good, tc.old, tc.new, 1)
			errs, err := Lint("broken.yml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if !has(errs, tc.kind, tc.msg) {
				t.Errorf("want a %s error containing %q; got %d:", tc.kind, tc.msg, len(errs))
				for _, e := range errs {
					t.Errorf("  %s", e)
				}
			}
		})
	}
}

func has(errs []*actionlint.Error, kind, msg string) bool {
	for _, e := range errs {
		if e.Kind == kind && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}
