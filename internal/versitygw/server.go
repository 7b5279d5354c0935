package versitygw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Args is the command line (after the binary) that serves the POSIX
// directory root over S3 on addr (host:port) in region. Each subdirectory
// of root is a bucket, so the data outlives the process: a server started
// again over the same root serves the same objects.
//
// The root credentials are not in it: they go in the environment (Env), so
// that neither ps nor a log of the command line shows the secret.
func Args(addr, root, region string) []string {
	return []string{"--region", region, "--port", addr, "--quiet", "posix", root}
}

// Env is the environment that gives a server started with Args its root
// credentials.
func Env(accessKey, secretKey string) []string {
	return []string{"ROOT_ACCESS_KEY_ID=" + accessKey, "ROOT_SECRET_ACCESS_KEY=" + secretKey}
}

// NewCredentials returns a random access key (20 characters) and secret
// key (40 characters), for servers that must not share well-known keys.
func NewCredentials() (accessKey, secretKey string, err error) {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("versitygw credentials: %w", err)
	}
	h := hex.EncodeToString(b)
	return "FL" + h[:18], h[18:58], nil
}

// NewClient returns an S3 client for the server at endpoint
// (http://host:port), with path-style bucket addressing. It does not retry
// a failed request: a server that is down must show as down at once, not
// after minio-go's ten attempts with backoff.
func NewClient(endpoint, accessKey, secretKey, region string) (*minio.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("S3 endpoint %q: want http(s)://host:port", endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", endpoint, err)
	}
	return c, nil
}

// Ready reports whether the server behind c answers an authenticated
// request (ListBuckets): it listens and takes its credentials.
func Ready(ctx context.Context, c *minio.Client) error {
	if _, err := c.ListBuckets(ctx); err != nil {
		return fmt.Errorf("S3 server at %s: %w", c.EndpointURL(), err)
	}
	return nil
}

// EnsureBucket creates bucket unless it exists already.
func EnsureBucket(ctx context.Context, c *minio.Client, bucket, region string) error {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("S3 server at %s: bucket %s: %w", c.EndpointURL(), bucket, err)
	}
	if ok {
		return nil
	}
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		return fmt.Errorf("S3 server at %s: make bucket %s: %w", c.EndpointURL(), bucket, err)
	}
	return nil
}
