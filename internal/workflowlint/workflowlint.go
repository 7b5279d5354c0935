// Package workflowlint checks the repository's GitHub Actions workflows (.github/workflows) with
// actionlint, used as a library so that `go test ./...`, and so `make test`, lints them without a
// separate tool to install.
package workflowlint

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
)

// Lint checks one workflow file's content; file names it in the errors (it need not exist). The
// result does not depend on the machine: actionlint runs shellcheck on `run:` scripts and pyflakes
// on Python ones when it finds them on PATH, and both are turned off here (empty executables), so a
// developer with shellcheck installed and CI without it get the same verdict. Only actionlint's own
// checks run: syntax, expressions and their types, runner labels, known actions' inputs, cron
// syntax, permissions, and so on. When file exists in a repository, that repository's
// .github/actionlint.yaml is honoured (there is none today; it would declare, e.g., self-hosted
// runner labels).
func Lint(file string, src []byte) ([]*actionlint.Error, error) {
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{
		Shellcheck: "", // no shellcheck, even where it is installed
		Pyflakes:   "", // no pyflakes, likewise
		Color:      actionlint.ColorOptionKindNever,
	})
	if err != nil {
		return nil, fmt.Errorf("workflowlint: %w", err)
	}
	// A nil project: actionlint finds the repository from file's path, if it exists.
	errs, err := l.Lint(file, src, nil)
	if err != nil {
		return nil, fmt.Errorf("workflowlint: %s: %w", file, err)
	}
	return errs, nil
}

// Files lists the workflow files (*.yml, *.yaml) in dir, sorted.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("workflowlint: %w", err)
	}
	var files []string
	for _, e := range ents {
		if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".yml") || strings.HasSuffix(e.Name(), ".yaml")) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}
