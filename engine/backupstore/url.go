package backupstore

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Location is a parsed backup target URL.
type Location struct {
	// Scheme is "file" or "s3".
	Scheme string
	// Dir is the absolute, cleaned directory of a file target.
	Dir string
	// Bucket, Region and Prefix locate an S3 target. Prefix is "" or ends
	// with "/", so keys are Prefix + "volumes/...".
	Bucket, Region, Prefix string
}

// String gives the URL back in canonical form. It never holds a secret:
// credentials travel apart from the URL (Credential).
func (l Location) String() string {
	switch l.Scheme {
	case "file":
		return (&url.URL{Scheme: "file", Path: l.Dir}).String()
	case "s3":
		return (&url.URL{Scheme: "s3", User: url.User(l.Bucket), Host: l.Region, Path: "/" + l.Prefix}).String()
	}
	return "invalid:"
}

// bucketRE is the S3 bucket naming rule (3-63 lower-case letters, digits,
// dots and hyphens, starting and ending with a letter or digit).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// regionRE accepts AWS-style and MinIO-style region names.
var regionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ParseURL parses and validates a target URL:
//
//	file:///absolute/dir
//	s3://bucket@region/optional/prefix
//
// The S3 endpoint is not part of the URL (as in Longhorn, where it sits in
// the credential secret beside the keys): see Credential.
func ParseURL(raw string) (Location, error) {
	bad := func(format string, args ...any) (Location, error) {
		return Location{}, fmt.Errorf("%w %q: %s", ErrInvalidURL, raw, fmt.Sprintf(format, args...))
	}
	if strings.ContainsAny(raw, "\x00\r\n") {
		return bad("control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("%v", err)
	}
	if strings.IndexFunc(u.Path, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return bad("control characters in the path")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return bad("query and fragment are not allowed")
	}
	switch u.Scheme {
	case "file":
		if u.Opaque != "" {
			return bad("file path must be absolute (file:///dir)")
		}
		if u.User != nil || u.Host != "" {
			return bad("file URL has a host %q; a relative path? write file:///absolute/dir", u.Host)
		}
		if !strings.HasPrefix(u.Path, "/") {
			return bad("file path must be absolute (file:///dir)")
		}
		dir := path.Clean(u.Path)
		if dir == "/" {
			return bad("refusing the root directory as a backup target")
		}
		return Location{Scheme: "file", Dir: dir}, nil
	case "s3":
		if u.Opaque != "" {
			return bad("want s3://bucket@region/prefix")
		}
		if u.User == nil || u.User.Username() == "" {
			return bad("missing bucket (want s3://bucket@region/prefix)")
		}
		if _, has := u.User.Password(); has {
			return bad("credentials do not belong in the URL; pass a Credential")
		}
		bucket := u.User.Username()
		if !bucketRE.MatchString(bucket) || strings.Contains(bucket, "..") {
			return bad("invalid bucket name %q", bucket)
		}
		if u.Host == "" {
			return bad("missing region (want s3://bucket@region/prefix)")
		}
		if !regionRE.MatchString(u.Host) {
			return bad("invalid region %q", u.Host)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			for _, part := range strings.Split(prefix, "/") {
				if part == "" || part == "." || part == ".." {
					return bad("invalid prefix %q", u.Path)
				}
			}
			prefix += "/"
		}
		return Location{Scheme: "s3", Bucket: bucket, Region: u.Host, Prefix: prefix}, nil
	case "":
		return bad("missing scheme (want file:// or s3://)")
	default:
		return bad("unknown scheme %q (want file or s3)", u.Scheme)
	}
}
