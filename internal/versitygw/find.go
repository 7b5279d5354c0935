package versitygw

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// InstallCommand installs the versitygw release faultline is tested with.
const InstallCommand = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// ErrNotFound means no versitygw binary was found. Its message names where
// Find looked and how to install one, so that whoever skips or fails on it
// can pass it on as is.
var ErrNotFound = errors.New("versitygw not found ($FAULTLINE_VERSITYGW, PATH, $(go env GOPATH)/bin); install it with: " + InstallCommand)

// Find returns the versitygw binary: $FAULTLINE_VERSITYGW, then PATH, then
// $(go env GOPATH)/bin. It returns ErrNotFound when there is none, and
// another error when $FAULTLINE_VERSITYGW names a file that does not exist
// (a misconfiguration, not a missing tool).
func Find() (string, error) {
	if p := os.Getenv("FAULTLINE_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("FAULTLINE_VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "versitygw")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", ErrNotFound
}
