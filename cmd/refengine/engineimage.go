package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
)

// selfExe is the running executable. Reading /proc/self/exe opens the
// very file this process runs, even when its path was renamed over since.
const selfExe = "/proc/self/exe"

// installedName is the binary's name in the engine-image directory; nodes
// start engines of that image from DIR/refengine.
const installedName = "refengine"

// registerEngineImage adds `refengine engine-image install|verify`, what an
// engine-image DaemonSet pod runs: it puts the binary of its image on the
// node's hostPath, where the node's instance manager starts engines from,
// and proves it is there. The admin command of the same name (list, get,
// create, delete) registered before it keeps its other verbs.
func registerEngineImage(cmds map[string]subcommand) {
	admin, hasAdmin := cmds["engine-image"]
	summary := "install|verify this binary for an engine-image DaemonSet"
	if hasAdmin {
		summary = admin.summary + " (list|get|create|delete); " + summary
	}
	cmds["engine-image"] = subcommand{
		summary: summary,
		run: func(args []string) int {
			if len(args) > 0 && (args[0] == "install" || args[0] == "verify") {
				return runEngineImageLocal(args[0], args[1:], os.Stdout, os.Stderr)
			}
			if !hasAdmin {
				fmt.Fprint(os.Stderr, engineImageLocalUsage)
				return 2
			}
			code := admin.run(args)
			if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" ||
				!slices.Contains(sortedKeys(engineImageVerbs()), args[0]) {
				fmt.Fprint(os.Stderr, "\n"+engineImageLocalUsage)
			}
			return code
		},
	}
}

const engineImageLocalUsage = `in an engine-image pod (no manager needed):
  install  --dest DIR   copy this binary to DIR/refengine (atomically, skipped when
                        identical), then wait for SIGTERM or SIGINT and exit 0
  verify   --dest DIR   exit 0 when DIR/refengine is executable and identical to this
                        binary (SHA-256), else exit 1 with the reason
`

func runEngineImageLocal(verb string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refengine engine-image "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dest := fs.String("dest", "", "the directory the binary goes to, normally a hostPath mount (required; must exist)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: refengine engine-image %s --dest DIR\n\n%s\nflags:\n", verb, engineImageLocalUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "refengine engine-image %s: unexpected arguments: %q\n", verb, fs.Args())
		return 2
	}
	if *dest == "" {
		fmt.Fprintf(stderr, "refengine engine-image %s: --dest is required\n", verb)
		return 2
	}
	if verb == "verify" {
		sum, err := verifyBinary(selfExe, *dest)
		if err != nil {
			fmt.Fprintf(stderr, "refengine engine-image verify: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s matches this binary (sha256 %s)\n", filepath.Join(*dest, installedName), sum)
		return 0
	}
	return serveDaemon("engine-image install", slog.LevelInfo, "component", "engine-image", func(ctx context.Context, log *slog.Logger) error {
		copied, sum, err := installBinary(selfExe, *dest)
		if err != nil {
			return err
		}
		path := filepath.Join(*dest, installedName)
		if copied {
			log.Info("installed", "path", path, "sha256", sum)
		} else {
			log.Info("already installed", "path", path, "sha256", sum)
		}
		// Stay up: the DaemonSet's pod is what keeps the image deployed
		// on this node; the binary stays after it ends, because engines
		// of this image may still run from it.
		<-ctx.Done()
		log.Info("stopping; the binary stays", "path", path)
		return nil
	})
}

// installBinary copies src to dir/refengine unless that file already has
// the same content. The copy is atomic and durable: written to
// dir/.refengine.tmp, synced, made 0755, renamed over the old one and the
// directory synced, so a node never starts an engine from a half-written
// binary, even after a crash. It returns whether it wrote the binary and
// the hex SHA-256 of its content.
func installBinary(src, dir string) (copied bool, sum string, err error) {
	if st, err := os.Stat(dir); err != nil {
		return false, "", fmt.Errorf("install: %w", err)
	} else if !st.IsDir() {
		return false, "", fmt.Errorf("install: %s is not a directory", dir)
	}
	want, err := fileSHA256(src)
	if err != nil {
		return false, "", fmt.Errorf("install: read this binary: %w", err)
	}
	dest := filepath.Join(dir, installedName)
	if have, err := fileSHA256(dest); err == nil && bytes.Equal(have, want) {
		// Identical: leave the file, which a running engine may execute.
		// Only make sure it is executable.
		if err := ensureMode(dest, 0o755); err != nil {
			return false, "", fmt.Errorf("install: %w", err)
		}
		return false, hex.EncodeToString(want), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, "", fmt.Errorf("install: read installed binary: %w", err)
	}
	tmp := filepath.Join(dir, "."+installedName+".tmp")
	if err := writeCopy(src, tmp, want); err != nil {
		os.Remove(tmp)
		return false, "", fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return false, "", fmt.Errorf("install: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return false, "", fmt.Errorf("install: %w", err)
	}
	return true, hex.EncodeToString(want), nil
}

// writeCopy copies src to a new file tmp with mode 0755 and syncs it. The
// copy's SHA-256 must be want: a source that changed after it was hashed
// is an error, not a silently different binary.
func writeCopy(src, tmp string, want []byte) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open this binary: %w", err)
	}
	defer in.Close()
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return fmt.Errorf("copy to %s: %w", tmp, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		out.Close()
		return fmt.Errorf("copy to %s: this binary changed while it was copied", tmp)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	// Chmod after creating: the umask would otherwise trim 0755.
	if err := out.Chmod(0o755); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	return nil
}

// verifyBinary checks that dir/refengine is a regular, executable file
// with the same SHA-256 as src, and returns that hash.
func verifyBinary(src, dir string) (string, error) {
	dest := filepath.Join(dir, installedName)
	st, err := os.Stat(dest)
	if err != nil {
		return "", fmt.Errorf("not installed: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%v)", dest, st.Mode())
	}
	if st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not executable (mode %v)", dest, st.Mode().Perm())
	}
	want, err := fileSHA256(src)
	if err != nil {
		return "", fmt.Errorf("read this binary: %w", err)
	}
	have, err := fileSHA256(dest)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(have, want) {
		return "", fmt.Errorf("%s differs from this binary (sha256 %x, want %x)", dest, have, want)
	}
	return hex.EncodeToString(want), nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// ensureMode sets path's permission bits to mode if they differ.
func ensureMode(path string, mode os.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm() == mode {
		return nil
	}
	return os.Chmod(path, mode)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
