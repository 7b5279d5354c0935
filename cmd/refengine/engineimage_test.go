package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inode returns path's inode number: the same number means the file was
// left alone, not replaced.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

func TestInstallBinary(t *testing.T) {
	src, err := os.Executable() // this test binary stands in for refengine
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dest := filepath.Join(dir, "refengine")

	copied, sum, err := installBinary(src, dir)
	if err != nil || !copied || len(sum) != 64 {
		t.Fatalf("first install: copied %v, sum %q, err %v", copied, sum, err)
	}
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed file differs from the source (%d bytes, want %d): %v", len(got), len(want), err)
	}
	if st, _ := os.Stat(dest); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only refengine", len(ents))
	}
	if v, err := verifyBinary(src, dir); err != nil || v != sum {
		t.Errorf("verify after install: %q, %v; want %q", v, err, sum)
	}

	// Identical content: the file a running engine executes is left alone.
	ino := inode(t, dest)
	if copied, _, err := installBinary(src, dir); err != nil || copied {
		t.Fatalf("second install: copied %v, err %v; want it skipped", copied, err)
	}
	if inode(t, dest) != ino {
		t.Error("identical binary was replaced")
	}
	// ... but made executable again if it lost its mode.
	os.Chmod(dest, 0o644)
	if copied, _, err := installBinary(src, dir); err != nil || copied {
		t.Fatalf("install over a 0644 copy: copied %v, err %v", copied, err)
	}
	if st, _ := os.Stat(dest); st.Mode().Perm() != 0o755 || inode(t, dest) != ino {
		t.Errorf("after install: mode %v, same inode %v", st.Mode().Perm(), inode(t, dest) == ino)
	}

	// Another image's binary: replaced by rename, a stale temp file too.
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte("another build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".refengine.tmp"), []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	if copied, _, err := installBinary(other, dir); err != nil || !copied {
		t.Fatalf("install of another binary: copied %v, err %v", copied, err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "another build" || inode(t, dest) == ino {
		t.Errorf("after replacing: content %q, same inode %v", got, inode(t, dest) == ino)
	}
	if _, err := os.Stat(filepath.Join(dir, ".refengine.tmp")); !os.IsNotExist(err) {
		t.Errorf("temp file left behind: %v", err)
	}

	if _, _, err := installBinary(src, filepath.Join(dir, "missing")); err == nil {
		t.Error("install into a missing directory succeeded")
	}
	if _, _, err := installBinary(filepath.Join(dir, "no-such-source"), dir); err == nil {
		t.Error("install of a missing source succeeded")
	}
}

func TestVerifyBinary(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte("build 1"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(dest string) error
		err   string
	}{
		{"same", func(dest string) error { return os.WriteFile(dest, []byte("build 1"), 0o755) }, ""},
		{"missing", func(string) error { return nil }, "not installed"},
		{"differs", func(dest string) error { return os.WriteFile(dest, []byte("build 2"), 0o755) }, "differs from this binary"},
		{"not executable", func(dest string) error { return os.WriteFile(dest, []byte("build 1"), 0o644) }, "not executable"},
		{"directory", func(dest string) error { return os.Mkdir(dest, 0o755) }, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.setup(filepath.Join(dir, "refengine")); err != nil {
				t.Fatal(err)
			}
			_, err := verifyBinary(src, dir)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.err)
			}
		})
	}
}

// TestEngineImageInstallBinary runs engine-image install and verify as
// the DaemonSet's pod does: the real refengine copies itself, stays up
// until SIGTERM, exits 0 and leaves the binary.
func TestEngineImageInstallBinary(t *testing.T) {
	requireBinary(t)
	dir := t.TempDir()
	if code, _, stderr := runBinary(t, "engine-image", "verify", "--dest", dir); code != 1 || !strings.Contains(stderr, "not installed") {
		t.Fatalf("verify before install: exit %d, %q; want 1, not installed", code, stderr)
	}

	cmd := exec.Command(refengineBin, "engine-image", "install", "--dest", dir)
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, stderr := runBinary(t, "engine-image", "verify", "--dest", dir)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify never passed: exit %d, %s\ninstall log: %s", code, stderr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	want, _ := os.ReadFile(refengineBin)
	if got, _ := os.ReadFile(filepath.Join(dir, "refengine")); !bytes.Equal(got, want) {
		t.Fatal("installed binary differs from the refengine that installed it")
	}
	select {
	case err := <-exited:
		t.Fatalf("install exited before SIGTERM: %v\n%s", err, logs.String())
	case <-time.After(200 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("install after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("install did not stop on SIGTERM")
	}
	if code, stdout, stderr := runBinary(t, "engine-image", "verify", "--dest", dir); code != 0 || !strings.Contains(stdout, "matches this binary") {
		t.Fatalf("verify after the pod stopped: exit %d, %q %q", code, stdout, stderr)
	}

	// A second install finds the same binary and leaves it.
	ino := inode(t, filepath.Join(dir, "refengine"))
	cmd2 := exec.Command(refengineBin, "engine-image", "install", "--dest", dir)
	var logs2 syncBuffer
	cmd2.Stderr = &logs2
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	done2 := make(chan error, 1)
	go func() { done2 <- cmd2.Wait() }()
	t.Cleanup(func() { cmd2.Process.Kill() })
	for !strings.Contains(logs2.String(), "already installed") {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("second install did not report the binary already there: %s", logs2.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd2.Process.Signal(syscall.SIGINT)
	if err := <-done2; err != nil {
		t.Fatalf("second install after SIGINT: %v", err)
	}
	if inode(t, filepath.Join(dir, "refengine")) != ino {
		t.Error("second install replaced an identical binary")
	}

	if code, _, stderr := runBinary(t, "engine-image", "install", "--dest", filepath.Join(dir, "missing")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("install into a missing dir: exit %d, %s", code, stderr)
	}
	if code, _, _ := runBinary(t, "engine-image", "verify"); code != 2 {
		t.Errorf("verify without --dest: exit %d, want 2", code)
	}
}
