package api

import (
	"strings"
	"testing"
)

func TestBackupURLRoundTrip(t *testing.T) {
	for _, tc := range []struct{ target, volume, backup string }{
		{"file:///var/lib/backups", "vol1", "backup-0123456789abcdef"},
		{"s3://bucket@us-east-1/prefix/", "v", "b"},
		{"s3://bucket@us-east-1/", "a-b-c", "backup-x"},
	} {
		u := BackupURL(tc.target, tc.volume, tc.backup)
		target, volume, backup, err := ParseBackupURL(u)
		if err != nil || target != tc.target || volume != tc.volume || backup != tc.backup {
			t.Errorf("ParseBackupURL(%q) = %q, %q, %q, %v; want %+v", u, target, volume, backup, err, tc)
		}
	}
	for _, bad := range []string{"", "file:///x", "file:///x?volume=v", "file:///x?backup=b", "?backup=b&volume=v", "file:///x?backup=b&volume=v&%zz"} {
		if _, _, _, err := ParseBackupURL(bad); err == nil || !strings.Contains(err.Error(), "backup URL") {
			t.Errorf("ParseBackupURL(%q): %v, want an error naming the backup URL", bad, err)
		}
	}
}

func TestBackupVolumeName(t *testing.T) {
	a, b := BackupVolumeName("default", "vol"), BackupVolumeName("extra", "vol")
	if a == b || a == "vol" || !strings.HasPrefix(a, "vol-") || len(a) != len("vol-")+8 {
		t.Fatalf("BackupVolumeName: %q and %q; want vol-<8 hex>, different per target", a, b)
	}
	if BackupVolumeName("default", "vol") != a {
		t.Fatal("BackupVolumeName is not stable")
	}
}

// FuzzParseBackupURL: whatever the input, parsing either fails with an
// error or yields parts that build the same parts again.
func FuzzParseBackupURL(f *testing.F) {
	f.Add("file:///b?backup=backup-1&volume=v")
	f.Add("s3://bkt@us-east-1/p/?volume=v&backup=b")
	f.Add("?")
	f.Fuzz(func(t *testing.T, raw string) {
		target, volume, backup, err := ParseBackupURL(raw)
		if err != nil {
			return
		}
		if target == "" || volume == "" || backup == "" {
			t.Fatalf("ParseBackupURL(%q) accepted empty parts", raw)
		}
		t2, v2, b2, err := ParseBackupURL(BackupURL(target, volume, backup))
		if err != nil || t2 != target || v2 != volume || b2 != backup {
			t.Fatalf("round trip of %q: %q %q %q %v", raw, t2, v2, b2, err)
		}
	})
}
