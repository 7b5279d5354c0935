package manager

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

func randomImage(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	sum := sha512.Sum512(b)
	return b, hex.EncodeToString(sum[:])
}

// imageFiles lists the manager's image store, temporary files included.
func imageFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "backingimages"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestBackingImageUploadVerifiesChecksum(t *testing.T) {
	dir := t.TempDir()
	tm := startManager(t, dir, Config{})
	ctx := ctxT(t)
	data, sum := randomImage(t, 64<<10)
	_, otherSum := randomImage(t, 512)

	if _, err := tm.c.UploadBackingImage(ctx, "img", bytes.NewReader(data), otherSum); !api.IsCode(err, 400) {
		t.Fatalf("upload with wrong sha512: got %v, want 400", err)
	}
	if _, err := tm.c.UploadBackingImage(ctx, "odd", bytes.NewReader(data[:1000]), ""); !api.IsCode(err, 400) {
		t.Fatalf("upload of 1000 bytes: got %v, want 400 (not a multiple of 512)", err)
	}
	if files := imageFiles(t, dir); len(files) != 0 {
		t.Fatalf("rejected uploads left files: %v", files)
	}
	if _, err := tm.c.GetBackingImage(ctx, "img"); !api.IsNotFound(err) {
		t.Fatalf("rejected upload left a record: %v", err)
	}

	bi, err := tm.c.UploadBackingImage(ctx, "img", bytes.NewReader(data), sum)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Status.SHA512 != sum || bi.Status.Size != int64(len(data)) || bi.Status.State != api.BackingImageReady || bi.Spec.Source != "upload" {
		t.Fatalf("uploaded image %+v", bi)
	}
	if _, err := tm.c.UploadBackingImage(ctx, "img", bytes.NewReader(data), ""); !api.IsCode(err, 409) {
		t.Fatalf("second upload under the same name: got %v, want 409", err)
	}
	rc, err := tm.c.DownloadBackingImage(ctx, "img")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded image differs from the upload")
	}

	// From a local file, with and without the expected checksum.
	src := filepath.Join(t.TempDir(), "base.img")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: "fromfile", SourcePath: src, SHA512: otherSum}); !api.IsCode(err, 400) {
		t.Fatalf("create from file with wrong sha512: got %v, want 400", err)
	}
	fb, err := tm.c.CreateBackingImage(ctx, api.BackingImageCreateRequest{Name: "fromfile", SourcePath: src})
	if err != nil {
		t.Fatal(err)
	}
	if fb.Status.SHA512 != sum || fb.Spec.Source != "file:"+src {
		t.Fatalf("image from file %+v", fb)
	}

	// A volume on the image pins it; the volume must be at least as big.
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "onimg", Size: api.MiB, BackingImage: "img"}); err != nil {
		t.Fatal(err)
	}
	if err := tm.c.DeleteBackingImage(ctx, "img"); !api.IsCode(err, 409) {
		t.Fatalf("delete of an image in use: got %v, want 409", err)
	}
	if err := tm.c.DeleteBackingImage(ctx, "fromfile"); err != nil {
		t.Fatal(err)
	}
	if files := imageFiles(t, dir); len(files) != 1 || files[0] != "img.img" {
		t.Fatalf("image store holds %v, want only img.img", files)
	}
}

func TestEngineImageLifecycle(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	ctx := ctxT(t)
	bin := filepath.Join(t.TempDir(), "refengine-v2")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: "v2", Version: "2.0.0", BinaryPath: notExec}); !api.IsCode(err, 400) {
		t.Fatalf("non-executable binary: got %v, want 400", err)
	}
	ei, err := tm.c.CreateEngineImage(ctx, api.EngineImageCreateRequest{Name: "v2", Version: "2.0.0", BinaryPath: bin})
	if err != nil {
		t.Fatal(err)
	}
	if ei.Status.State != api.EngineImageReady {
		t.Fatalf("engine image %+v", ei)
	}
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "vol", Size: api.MiB, EngineImage: "v2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "engine image ref count 1", func() (bool, error) {
		ei, err := tm.c.GetEngineImage(ctx, "v2")
		return ei.Status.RefCount == 1, err
	})
	if err := tm.c.DeleteEngineImage(ctx, "v2"); !api.IsCode(err, 409) {
		t.Fatalf("delete of an image in use: got %v, want 409", err)
	}
	// Upgrading a volume that is neither attached nor detached is refused.
	if _, err := tm.c.UpgradeVolume(ctx, "vol", "v2"); !api.IsCode(err, 409) {
		t.Fatalf("upgrade of a creating volume: got %v, want 409", err)
	}
	if _, err := tm.c.DeleteVolume(ctx, "vol"); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.WaitVolume(ctx, "vol", func(v api.Volume) bool { return v.Name == "" }); err != nil {
		t.Fatal(err)
	}
	if err := tm.c.DeleteEngineImage(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.c.GetEngineImage(ctx, "v2"); !api.IsNotFound(err) {
		t.Fatalf("deleted engine image: %v", err)
	}
}
