package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

// WriteAll writes a complete report directory: run.json, junit.xml,
// ginkgo.json and report.html. It writes every file it can and returns
// the errors of those it could not, so one bad file never costs the others.
func WriteAll(dir string, run Run, ginkgoReport types.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report dir %s: %w", dir, err)
	}
	if run.Format == 0 {
		run.Format = FormatVersion
	}
	run.Recount()
	var errs []error
	if err := run.Save(dir); err != nil {
		errs = append(errs, err)
	}
	if err := WriteJUnit(run, filepath.Join(dir, JUnitFile)); err != nil {
		errs = append(errs, err)
	}
	if err := reporters.GenerateJSONReport(ginkgoReport, filepath.Join(dir, GinkgoFile)); err != nil {
		errs = append(errs, fmt.Errorf("write ginkgo report: %w", err))
	}
	if err := WriteHTML(run, filepath.Join(dir, HTMLFile)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
