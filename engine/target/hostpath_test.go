package target

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAioConfinedToAllowedDirs checks bdev_aio_create opens only files in
// the allowed directories, however the path leads out of them.
func TestAioConfinedToAllowedDirs(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "data")
	extra := filepath.Join(root, "extra")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{allowed, extra, outside, filepath.Join(allowed, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img := func(path string) string {
		t.Helper()
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(4 << 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return path
	}
	secret := img(filepath.Join(outside, "secret.img"))
	img(filepath.Join(allowed, "disk.img"))
	img(filepath.Join(allowed, "sub", "disk.img"))
	img(filepath.Join(extra, "disk.img"))
	symlink := func(target, link string) string {
		t.Helper()
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		return link
	}
	escape := symlink(secret, filepath.Join(allowed, "escape.img"))
	escapeDir := symlink(outside, filepath.Join(allowed, "outdir"))
	inside := symlink(filepath.Join(allowed, "sub", "disk.img"), filepath.Join(allowed, "inside.img"))
	// An allowed directory reached through a symlink is still itself.
	linkedExtra := symlink(extra, filepath.Join(root, "extra-link"))

	tests := []struct {
		name, filename string
		ok             bool
	}{
		{"file in the data dir", filepath.Join(allowed, "disk.img"), true},
		{"file below the data dir", filepath.Join(allowed, "sub", "disk.img"), true},
		{"symlink inside pointing inside", inside, true},
		{"file in an extra dir", filepath.Join(extra, "disk.img"), true},
		{"outside file", secret, false},
		{"/etc/shadow", "/etc/shadow", false},
		{"/etc/passwd", "/etc/passwd", false},
		{"dot-dot out of the data dir", filepath.Join(allowed, "..", "outside", "secret.img"), false},
		{"dot-dot spelled unclean", allowed + "/sub/../../outside/secret.img", false},
		{"symlink escaping", escape, false},
		{"through a symlinked directory", filepath.Join(escapeDir, "secret.img"), false},
		{"missing file outside", filepath.Join(outside, "new.img"), false},
		{"sibling with the dir as prefix", allowed + "-not/disk.img", false},
	}
	tgt := New(Options{AllowedDirs: []string{allowed, linkedExtra}})
	defer tgt.Close()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "aio" + string(rune('a'+i))
			err := tgt.Call(context.Background(), "bdev_aio_create", map[string]any{"name": name, "filename": tt.filename, "block_size": 512}, nil)
			_, exists := tgt.Bdev(name)
			if tt.ok {
				if err != nil || !exists {
					t.Fatalf("bdev_aio_create %s: %v (bdev exists: %t), want it created", tt.filename, err, exists)
				}
				return
			}
			code, msg, _ := rpcCode(err)
			if code != -1 || !strings.Contains(msg, tt.filename) || !strings.Contains(msg, allowed) {
				t.Fatalf("bdev_aio_create %s = %v; want error -1 naming the path and %s", tt.filename, err, allowed)
			}
			if exists {
				t.Fatalf("bdev %s exists after a refused create", name)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "new.img")); err == nil {
		t.Error("a refused create made a file outside the allowed dirs")
	}
}

// TestAioUnrestrictedWithoutAllowedDirs keeps library use (tests) free to
// open any path.
func TestAioUnrestrictedWithoutAllowedDirs(t *testing.T) {
	fx := newFixture(t, false) // its disk is in a temporary directory
	if _, ok := fx.tgt.Bdev("disk0"); !ok {
		t.Fatal("disk0 missing")
	}
}
