package manager

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestEngineImageConfinement: engine image binaries register only from the
// allowed directories, links resolved, and the resolved path is recorded.
func TestEngineImageConfinement(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	tm := startManager(t, t.TempDir(), Config{EngineImageDirs: []string{allowed}})
	ctx := ctxT(t)
	inBin := writeFile(t, filepath.Join(allowed, "v2", "refengine"), []byte("#!/bin/sh\n"), 0o755)
	outBin := writeFile(t, filepath.Join(outside, "refengine"), []byte("#!/bin/sh\n"), 0o755)
	linkIn := symlink(t, inBin, filepath.Join(allowed, "current"))
	linkOut := symlink(t, outBin, filepath.Join(allowed, "escape"))
	dirOut := symlink(t, outside, filepath.Join(allowed, "elsewhere"))

	tests := []struct {
		name, path string
		code       int
		recorded   string
	}{
		{"inside", inBin, 201, inBin},
		{"link to inside", linkIn, 201, inBin},
		{"outside", outBin, 403, ""},
		{"dot-dot out", filepath.Join(allowed, "..", filepath.Base(outside), "refengine"), 403, ""},
		{"link escaping", linkOut, 403, ""},
		{"directory link escaping", filepath.Join(dirOut, "refengine"), 403, ""},
		{"system binary", "/bin/sh", 403, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "ei" + string(rune('a'+i))
			ei, err := tm.c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: name, Version: "1", BinaryPath: tt.path})
			if tt.code != 201 {
				if !api.IsCode(err, tt.code) || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), allowed) || !strings.Contains(err.Error(), "--engine-image-dir") {
					t.Fatalf("got %v, want %d naming %s, the allowed %s and the flag", err, tt.code, tt.path, allowed)
				}
				if _, err := tm.c.GetEngineImage(ctx, name); !api.IsNotFound(err) {
					t.Fatalf("refused image was recorded: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := filepath.EvalSymlinks(tt.recorded); ei.Spec.BinaryPath != want {
				t.Fatalf("recorded binary %s, want the resolved %s", ei.Spec.BinaryPath, want)
			}
		})
	}
}

// TestBackingImageConfinement: backing images are copied in only from the
// allowed directories, links resolved; uploads need no file and stay
// allowed.
func TestBackingImageConfinement(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	tm := startManager(t, t.TempDir(), Config{BackingImageDirs: []string{allowed}})
	ctx := ctxT(t)
	data := make([]byte, 4096)
	in := writeFile(t, filepath.Join(allowed, "in.img"), data, 0o644)
	out := writeFile(t, filepath.Join(outside, "out.img"), data, 0o644)
	linkOut := symlink(t, out, filepath.Join(allowed, "escape.img"))
	dirOut := symlink(t, outside, filepath.Join(allowed, "elsewhere"))
	tests := []struct {
		name, path string
		code       int
	}{
		{"inside", in, 201},
		{"outside", out, 403},
		{"link escaping", linkOut, 403},
		{"directory link escaping", filepath.Join(dirOut, "out.img"), 403},
		{"dot-dot out", filepath.Join(allowed, "..", filepath.Base(outside), "out.img"), 403},
		{"system file", "/etc/passwd", 403},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "bi" + string(rune('a'+i))
			_, err := tm.c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: name, SourcePath: tt.path})
			if tt.code == 201 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !api.IsCode(err, tt.code) || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), allowed) || !strings.Contains(err.Error(), "--backing-image-dir") {
				t.Fatalf("got %v, want %d naming %s, the allowed %s and the flag", err, tt.code, tt.path, allowed)
			}
			if _, err := tm.c.GetBackingImage(ctx, name); !api.IsNotFound(err) {
				t.Fatalf("refused image was recorded: %v", err)
			}
		})
	}
	if _, err := tm.c.UploadBackingImage(ctx, "uploaded", strings.NewReader(string(data)), ""); err != nil {
		t.Fatalf("upload: %v", err)
	}
}

// TestConfinementDefaults: without configured directories, backing images
// come from <data dir>/import (created) and engine images from
// DefaultEngineImageDir only.
func TestConfinementDefaults(t *testing.T) {
	dir := t.TempDir()
	tm := startManager(t, dir, Config{EngineImageDirs: []string{}, BackingImageDirs: []string{}})
	ctx := ctxT(t)
	data := make([]byte, 4096)
	in := writeFile(t, filepath.Join(dir, "import", "base.img"), data, 0o644)
	if _, err := tm.c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: "base", SourcePath: in}); err != nil {
		t.Fatalf("from the import directory: %v", err)
	}
	out := writeFile(t, filepath.Join(t.TempDir(), "base.img"), data, 0o644)
	if _, err := tm.c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: "other", SourcePath: out}); !api.IsCode(err, 403) || !strings.Contains(err.Error(), filepath.Join(dir, "import")) {
		t.Fatalf("from elsewhere: got %v, want 403 naming the import directory", err)
	}
	bin := writeFile(t, filepath.Join(t.TempDir(), "refengine"), []byte("#!/bin/sh\n"), 0o755)
	if _, err := tm.c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: "ei", Version: "1", BinaryPath: bin}); !api.IsCode(err, 403) || !strings.Contains(err.Error(), DefaultEngineImageDir) {
		t.Fatalf("engine image from elsewhere: got %v, want 403 naming %s", err, DefaultEngineImageDir)
	}
}
