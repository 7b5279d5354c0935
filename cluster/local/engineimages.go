package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// InstallEngineImage copies the cluster's refengine binary to DIR/engine-images/NAME/refengine,
// the local stand-in for an engine image: a separate executable file, so a live upgrade really
// switches the file engines run from.
func (d *Driver) InstallEngineImage(ctx context.Context, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\ `) || name == "." || name == ".." {
		return "", fmt.Errorf("engine image name %q: want a plain name", name)
	}
	dir := filepath.Join(d.cfg.Dir, "engine-images", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("engine image %s: %w", name, err)
	}
	dst := filepath.Join(dir, "refengine")
	if err := CopyExecutable(d.cfg.Refengine, dst); err != nil {
		return "", fmt.Errorf("engine image %s: %w", name, err)
	}
	return dst, nil
}

// RemoveEngineImage deletes the image's copy of the binary. A running engine keeps its
// executable open, so removing the file does not disturb it.
func (d *Driver) RemoveEngineImage(ctx context.Context, name string) error {
	if err := os.RemoveAll(filepath.Join(d.cfg.Dir, "engine-images", name)); err != nil {
		return fmt.Errorf("remove engine image %s: %w", name, err)
	}
	return nil
}

// CopyExecutable copies src to dst (mode 0755) through a temporary file, fsynced and renamed.
func CopyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy engine binary: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("copy engine binary: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy engine binary to %s: %w", dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copy engine binary to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
