package backupstore

import (
	"github.com/faultline/faultline/internal/versitygw"

	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		want    Location
		wantErr string // substring of the error; "" = valid
	}{
		{url: "file:///var/backups", want: Location{Scheme: "file", Dir: "/var/backups"}},
		{url: "file:///var/backups/", want: Location{Scheme: "file", Dir: "/var/backups"}},
		{url: "file:///a/../b", want: Location{Scheme: "file", Dir: "/b"}},
		{url: "s3://bkt@us-east-1/", want: Location{Scheme: "s3", Bucket: "bkt", Region: "us-east-1"}},
		{url: "s3://bkt@us-east-1", want: Location{Scheme: "s3", Bucket: "bkt", Region: "us-east-1"}},
		{url: "s3://my.bkt-1@eu-west-3/a/b/", want: Location{Scheme: "s3", Bucket: "my.bkt-1", Region: "eu-west-3", Prefix: "a/b/"}},
		{url: "", wantErr: "missing scheme"},
		{url: "/var/backups", wantErr: "missing scheme"},
		{url: "nfs://server:/export", wantErr: `unknown scheme "nfs"`},
		{url: "file://relative/dir", wantErr: "has a host"},
		{url: "file:relative", wantErr: "must be absolute"},
		{url: "file:///", wantErr: "root directory"},
		{url: "file:///a?x=1", wantErr: "query"},
		{url: "s3://us-east-1/prefix", wantErr: "missing bucket"},
		{url: "s3://@us-east-1/prefix", wantErr: "missing bucket"},
		{url: "s3://bkt@/prefix", wantErr: "missing region"},
		{url: "s3://bkt:secret@us-east-1/", wantErr: "credentials"},
		{url: "s3://Bad_Bucket@us-east-1/", wantErr: "invalid bucket"},
		{url: "s3://bkt@us-east-1:9000/", wantErr: "invalid region"},
		{url: "s3://bkt@us-east-1/a//b", wantErr: "invalid prefix"},
		{url: "s3://bkt@us-east-1/a/../b", wantErr: "invalid prefix"},
		{url: "s3:opaque", wantErr: "want s3://"},
	} {
		got, err := ParseURL(tc.url)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseURL(%q): %v", tc.url, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.url, got, tc.want)
		case tc.wantErr != "" && (err == nil || !errors.Is(err, ErrInvalidURL) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseURL(%q) = %+v, %v; want an ErrInvalidURL with %q", tc.url, got, err, tc.wantErr)
		}
	}
}

// FuzzParseURL: any string parses to a valid location that round-trips
// through String, or is refused with ErrInvalidURL; never a panic.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"file:///var/backups", "s3://bkt@us-east-1/a/b/", "s3://a@b", "file://x", "s3://bkt:p@r/", "%", "file:///a/%2e%2e/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		loc, err := ParseURL(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("ParseURL(%q): error %v is not ErrInvalidURL", raw, err)
			}
			return
		}
		switch loc.Scheme {
		case "file":
			if !strings.HasPrefix(loc.Dir, "/") || loc.Dir == "/" || strings.Contains(loc.Dir, "/../") {
				t.Fatalf("ParseURL(%q) accepted dir %q", raw, loc.Dir)
			}
		case "s3":
			if loc.Bucket == "" || loc.Region == "" || strings.Contains(loc.Prefix, "..") ||
				(loc.Prefix != "" && !strings.HasSuffix(loc.Prefix, "/")) {
				t.Fatalf("ParseURL(%q) accepted %+v", raw, loc)
			}
		default:
			t.Fatalf("ParseURL(%q) gave scheme %q", raw, loc.Scheme)
		}
		again, err := ParseURL(loc.String())
		if err != nil || again != loc {
			t.Fatalf("ParseURL(%q) = %+v; its String %q parses to %+v, %v", raw, loc, loc.String(), again, err)
		}
	})
}

// TestOpenErrors: a target that cannot be used fails Open with the right
// kind and a message naming it.
func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cases := []struct {
		name string
		url  string
		cred Credential
		want error
	}{
		{"file dir missing", "file://" + dir + "/nope", Credential{}, ErrUnreachable},
		{"bad url", "ftp://x/y", Credential{}, ErrInvalidURL},
		{"s3 name does not resolve", "s3://bkt@us-east-1/", Credential{AccessKey: "a", SecretKey: "b", Endpoint: "http://backupstore-test.invalid:9000"}, ErrUnreachable},
		{"s3 nothing listening", "s3://bkt@us-east-1/", Credential{AccessKey: "a", SecretKey: "b", Endpoint: "http://127.0.0.1:1"}, ErrUnreachable},
		{"s3 bad endpoint", "s3://bkt@us-east-1/", Credential{AccessKey: "a", SecretKey: "b", Endpoint: "127.0.0.1:9000"}, ErrInvalidURL},
		{"s3 no keys", "s3://bkt@us-east-1/", Credential{Endpoint: "http://127.0.0.1:1"}, ErrAccessDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(ctx, tc.url, tc.cred)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
	t.Run("s3 server", func(t *testing.T) {
		srv := startS3(t)
		for _, tc := range []struct {
			name string
			url  string
			cred Credential
			want error
		}{
			{"wrong secret", srv.URL(""), Credential{AccessKey: versitygw.AccessKey, SecretKey: "wrong", Endpoint: srv.Endpoint}, ErrAccessDenied},
			{"unknown key", srv.URL(""), Credential{AccessKey: "nobody", SecretKey: "wrong", Endpoint: srv.Endpoint}, ErrAccessDenied},
			{"missing bucket", "s3://nobucket@us-east-1/", srv.Cred(), ErrUnreachable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := Open(ctx, tc.url, tc.cred)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), srv.Endpoint) {
					t.Fatalf("Open: %v, want %v naming %s", err, tc.want, srv.Endpoint)
				}
				t.Log(err)
			})
		}
		tgt := mustOpen(t, srv.URL("p"), srv.Cred())
		srv.Stop()
		if _, err := tgt.Get(ctx, "x"); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Get with the server stopped: %v, want ErrUnreachable", err)
		}
	})
}
