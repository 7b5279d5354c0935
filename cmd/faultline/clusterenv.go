package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/engine/credential"
)

// envFile is where `cluster up` leaves the lines `cluster env` prints, for
// shells that would rather source a file than run faultline.
const envFile = "env"

// clusterEnv prints the shell lines that point refengine's admin commands
// at the cluster in --dir: its manager URL and, when the cluster has a
// credential, the admin bearer token derived from it (never the secret).
func clusterEnv(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cluster env", `cluster env [--dir DIR]

Prints export lines for REFENGINE_MANAGER (the cluster's manager URL) and
REFENGINE_TOKEN (the admin API token derived from DIR/cluster.token; the
secret itself stays in the file; no line when there is no cluster.token):

  eval $(faultline cluster env --dir DIR)
  refengine volume list

cluster up writes the same lines to DIR/env (mode 0600).`, stderr)
	dir := fs.String("dir", "runs/cluster", "run directory of the cluster")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faultline cluster env: unexpected argument %q\n", fs.Arg(0))
		return exitNotRun
	}
	lines, err := envLines(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "faultline cluster env:", err)
		return exitNotRun
	}
	fmt.Fprint(stdout, lines)
	return exitPass
}

// envLines are the export lines for the cluster whose run directory is dir.
func envLines(dir string) (string, error) {
	st, err := local.ReadState(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("no cluster in %s (no %s); start one with faultline cluster up --dir %s", dir, local.StateFile, dir)
		}
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "export REFENGINE_MANAGER=%s\n", shellWord(st.ManagerURL))
	tok, err := credential.Load(filepath.Join(dir, "cluster.token"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A refengine without cluster credentials: the API is open.
	case err != nil:
		return "", err
	default:
		fmt.Fprintf(&b, "export REFENGINE_TOKEN=%s\n", shellWord(tok.AdminAPIToken()))
	}
	return b.String(), nil
}

// writeEnvFile writes envLines to DIR/env, owner-only: it holds a bearer
// token. It returns the file's path.
func writeEnvFile(dir string) (string, error) {
	lines, err := envLines(dir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, envFile)
	// Remove first: WriteFile keeps the mode of a file that exists.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// shellWord quotes s for a POSIX shell when it holds anything beyond the
// characters a URL or a hex token is made of.
func shellWord(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0
	if safe {
		return s
	}
	return shellQuote(s)
}
