package target

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// CheckHostPath resolves a host file a JSON-RPC method is to open and
// refuses it unless it lies in one of Options.AllowedDirs: anyone who may
// call the node (the Unix socket's owner, a holder of the cluster
// credential) could otherwise make it open any file the process can, a
// symlink or ".." in the path included. It returns the resolved path, the
// one to open. With no AllowedDirs every path is allowed (library use).
func (t *Target) CheckHostPath(path string) (string, error) {
	if len(t.allowed) == 0 {
		return path, nil
	}
	resolved, err := resolvePath(path)
	if err != nil {
		return "", t.outside(fmt.Sprintf("%s cannot be resolved (%v), so it is not known to be in", path, err))
	}
	for _, dir := range t.allowed {
		d, err := resolvePath(dir)
		if err != nil {
			continue // an allowed directory that does not exist holds nothing
		}
		if within(d, resolved) {
			return resolved, nil
		}
	}
	if resolved != filepath.Clean(path) {
		return "", t.outside(fmt.Sprintf("%s (resolving to %s) is outside", path, resolved))
	}
	return "", t.outside(path + " is outside")
}

// outside is the error for a path CheckHostPath refuses: -EPERM, naming
// the path (in what) and the directories allowed.
func (t *Target) outside(what string) *jsonrpc.Error {
	return &jsonrpc.Error{Code: -int(syscall.EPERM), Message: fmt.Sprintf(
		"Operation not permitted: %s the directories this node opens files in: %s (refengine node --data-dir, the --disk directories and --allow-dir)",
		what, strings.Join(t.allowed, ", "))}
}

// resolvePath makes path absolute and resolves every symlink and "..". A
// missing last element is allowed (its directory is resolved): whether the
// file exists is for the opener to say.
func resolvePath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	r, err := filepath.EvalSymlinks(abs)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// within reports whether path is dir or below it (both resolved).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
