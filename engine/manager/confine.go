package manager

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

// DefaultEngineImageDir is where engine-image DaemonSets place binaries on
// every host (deploy/engine-image), and so where the manager accepts engine
// image binaries from unless told otherwise.
const DefaultEngineImageDir = "/var/lib/refengine-engine-images"

// importDir is the default directory backing images may be created from
// by path: <data dir>/import.
func importDir(dataDir string) string { return filepath.Join(dataDir, "import") }

// confined returns path with every symbolic link resolved, or a 403 when
// that lies outside all of dirs (themselves resolved too): the manager
// reads or executes what it is given, so a caller must not point it at
// arbitrary files on its host. what names the path in messages; flag is
// the refengine manager flag that adds directories.
func confined(what, path string, dirs []string, flag string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", api.Invalid("%s: %v", what, err)
	}
	return real, checkWithin(what, path, real, dirs, flag)
}

// checkWithin answers 403 unless real, the resolved form of path, lies
// inside one of dirs.
func checkWithin(what, path, real string, dirs []string, flag string) error {
	for _, d := range dirs {
		rd, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue // a directory that does not exist holds nothing
		}
		if rel, err := filepath.Rel(rd, real); err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	shown := path
	if real != path {
		shown = fmt.Sprintf("%s (%s once its links are resolved)", path, real)
	}
	return api.Errorf(403, "%s %s is outside the allowed directories %s (refengine manager %s DIR adds one)", what, shown, strings.Join(dirs, ", "), flag)
}

// openedPath is the path of the file f really opened: on Linux what
// /proc/self/fd names, which no link swapped in after the open can change;
// elsewhere path with its links resolved.
func openedPath(f *os.File, path string) (string, error) {
	if p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil && filepath.IsAbs(p) {
		return p, nil
	}
	return filepath.EvalSymlinks(path)
}
