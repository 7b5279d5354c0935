package backupstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	// minio-go rather than the AWS SDK v2: one module with a small
	// dependency tree (the SDK is a dozen modules plus smithy), path-style
	// addressing and static credentials are plain Options fields, and it is
	// written for S3-compatible servers (MinIO, versitygw, Ceph RGW) as
	// well as AWS, which is what backup targets are in practice.
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3MaxRetries bounds minio-go's own retries (10 by default, with backoff),
// so a target that went down is reported in seconds, not minutes; the
// callers (backup and restore controllers) retry at their level.
const s3MaxRetries = 3

// s3Target stores objects in a bucket under a key prefix, with path-style
// addressing (http://endpoint/bucket/key) so that a bare IP endpoint works.
type s3Target struct {
	loc    Location
	client *minio.Client
	name   string
}

func openS3(ctx context.Context, loc Location, cred Credential) (Target, error) {
	t := &s3Target{loc: loc}
	endpoint := cred.Endpoint
	if endpoint == "" {
		endpoint = "https://s3." + loc.Region + ".amazonaws.com"
	}
	t.name = loc.String() + " at " + endpoint
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("%w: S3 endpoint %q: want http(s)://host[:port]", ErrInvalidURL, endpoint)
	}
	if cred.AccessKey == "" || cred.SecretKey == "" {
		return nil, t.fail("open", "", ErrAccessDenied, errors.New("access key and secret key are required"))
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cred.AccessKey, cred.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       loc.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   s3MaxRetries,
	})
	if err != nil {
		return nil, t.fail("open", "", ErrUnreachable, err)
	}
	t.client = client
	ok, err := client.BucketExists(ctx, loc.Bucket)
	if err != nil {
		return nil, t.classify("open", "", err)
	}
	if !ok {
		// HEAD answers carry no error code, and some servers answer 404
		// to an unknown access key: a listing says which it was.
		for obj := range client.ListObjects(ctx, loc.Bucket, minio.ListObjectsOptions{MaxKeys: 1}) {
			if obj.Err != nil {
				return nil, t.classify("open", "", obj.Err)
			}
			break
		}
		return nil, t.fail("open", "", ErrUnreachable, fmt.Errorf("bucket %q does not exist", loc.Bucket))
	}
	return t, nil
}

func (t *s3Target) String() string { return t.name }

func (t *s3Target) fail(op, key string, kind, err error) error {
	return &TargetError{Target: t.String(), Op: op, Key: key, Kind: kind, Err: err}
}

// classify maps an S3 or transport error to a sentinel. The S3 error codes
// are the documented ones; anything that never got an S3 answer (refused,
// reset, DNS, timeout) is ErrUnreachable.
func (t *s3Target) classify(op, key string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case minio.NoSuchKey, "NotFound":
		return t.fail(op, key, ErrNotFound, err)
	case minio.NoSuchBucket:
		return t.fail(op, key, ErrUnreachable, fmt.Errorf("bucket %q does not exist: %w", t.loc.Bucket, err))
	case minio.AccessDenied, minio.InvalidAccessKeyID, minio.SignatureDoesNotMatch, "InvalidSecurity",
		"XAdminUserNotFound": // versitygw's answer (a 404) to an unknown access key
		return t.fail(op, key, ErrAccessDenied, err)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return t.fail(op, key, ErrNotFound, err)
	case http.StatusForbidden, http.StatusUnauthorized:
		return t.fail(op, key, ErrAccessDenied, err)
	}
	// No S3 answer at all: refused, reset, DNS failure, timeout, or a
	// server error that outlasted the retries.
	return t.fail(op, key, ErrUnreachable, err)
}

func (t *s3Target) key(key string) string { return t.loc.Prefix + key }

func (t *s3Target) Put(ctx context.Context, key string, data []byte) error {
	_, err := t.client.PutObject(ctx, t.loc.Bucket, t.key(key), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
	if err != nil {
		return t.classify("put", key, err)
	}
	return nil
}

func (t *s3Target) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := t.client.GetObject(ctx, t.loc.Bucket, t.key(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, t.classify("get", key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, t.classify("get", key, err)
	}
	return data, nil
}

func (t *s3Target) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := t.client.StatObject(ctx, t.loc.Bucket, t.key(key), minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, t.classify("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

func (t *s3Target) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for obj := range t.client.ListObjects(ctx, t.loc.Bucket, minio.ListObjectsOptions{
		Prefix: t.key(prefix), Recursive: true,
	}) {
		if obj.Err != nil {
			return nil, t.classify("list", prefix, obj.Err)
		}
		keys = append(keys, strings.TrimPrefix(obj.Key, t.loc.Prefix))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return keys, nil
}

func (t *s3Target) Delete(ctx context.Context, key string) error {
	err := t.client.RemoveObject(ctx, t.loc.Bucket, t.key(key), minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(t.classify("delete", key, err), ErrNotFound) {
		return t.classify("delete", key, err)
	}
	return nil
}
