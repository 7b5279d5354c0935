package backupstore

import (
	"context"
	"errors"
	"testing"
)

// TestSystemBackupObjects: a system backup's bundle and images round-trip,
// stay out of the volume listing, and deletion removes all of them (twice
// is fine).
func TestSystemBackupObjects(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		s := e.store()
		if _, err := s.GetSystemBackupBundle(ctx, "sb1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("bundle of a missing system backup: %v, want ErrNotFound", err)
		}
		if err := s.PutSystemBackupImage(ctx, "sb1", "bi1", []byte("image bytes")); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSystemBackupBundle(ctx, "sb1", []byte(`{"name":"sb1"}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSystemBackupBundle(ctx, "sb2", []byte(`{"name":"sb2"}`)); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSystemBackupBundle(ctx, "sb1")
		if err != nil || string(got) != `{"name":"sb1"}` {
			t.Fatalf("bundle = %q, %v", got, err)
		}
		img, err := s.GetSystemBackupImage(ctx, "sb1", "bi1")
		if err != nil || string(img) != "image bytes" {
			t.Fatalf("image = %q, %v", img, err)
		}
		if vols, err := s.ListVolumes(ctx); err != nil || len(vols) != 0 {
			t.Fatalf("ListVolumes = %q, %v; a system backup is not a volume", vols, err)
		}
		for range 2 {
			if err := s.DeleteSystemBackup(ctx, "sb1"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.GetSystemBackupImage(ctx, "sb1", "bi1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("image after delete: %v, want ErrNotFound", err)
		}
		if _, err := s.GetSystemBackupBundle(ctx, "sb2"); err != nil {
			t.Fatalf("deleting sb1 touched sb2: %v", err)
		}
		for _, bad := range []string{"", "../x", "a/b"} {
			if err := s.PutSystemBackupBundle(ctx, bad, nil); err == nil {
				t.Errorf("PutSystemBackupBundle(%q) accepted a bad name", bad)
			}
		}
	})
}
