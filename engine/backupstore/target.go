package backupstore

import (
	"context"
	"fmt"
	"time"
)

// Target is a flat store of immutable objects under slash-separated keys.
// Put is atomic: a reader sees either no object or the whole of it, never a
// part. Implementations are safe for concurrent use.
//
// Every error wraps a *TargetError whose Kind is ErrUnreachable,
// ErrAccessDenied or ErrNotFound.
type Target interface {
	// Put stores data under key, replacing any object there.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the whole object; ErrNotFound when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Stat returns the object's size; ErrNotFound when there is none.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every key that starts with prefix, at any depth, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the object. Deleting a missing object succeeds, so a
	// garbage collection that was interrupted can simply run again.
	Delete(ctx context.Context, key string) error
	// String names the target in messages; it never includes a secret.
	String() string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Credential holds what an S3 target needs besides its URL, as Longhorn's
// backup target secret does (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_ENDPOINTS). File targets ignore it.
type Credential struct {
	AccessKey string
	SecretKey string
	// Endpoint is the S3 server's base URL, e.g. http://127.0.0.1:7070.
	// Empty means AWS: https://s3.<region>.amazonaws.com.
	Endpoint string
}

// String never prints the secret.
func (c Credential) String() string {
	return fmt.Sprintf("{access key %q, endpoint %q}", c.AccessKey, c.Endpoint)
}

// Open parses rawURL, builds the target and checks that it answers (the
// directory exists; the bucket exists and the keys are accepted), so a
// misconfigured target fails here with a message naming it and the cause.
func Open(ctx context.Context, rawURL string, cred Credential) (Target, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case "file":
		return openFile(loc)
	case "s3":
		return openS3(ctx, loc, cred)
	}
	return nil, fmt.Errorf("%w %q: unknown scheme", ErrInvalidURL, rawURL)
}
