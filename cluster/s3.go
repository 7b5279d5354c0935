package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// ErrNotSupported is returned for what a driver cannot do in its
// environment (yet).
var ErrNotSupported = errors.New("not supported by this cluster driver")

// ErrNoS3Server means the S3 server binary (versitygw) is missing; the
// error that wraps it says how to install it.
var ErrNoS3Server = errors.New("no S3 server")

// S3Endpoints runs S3 servers in the environment, to serve as backup-target
// endpoints. A scenario ties one to a node when the node's failure must take
// the target down with it (Longhorn #9752: the target's name resolution ran
// on the node that was stopped). Drivers that cannot return ErrNotSupported
// or do not implement it.
type S3Endpoints interface {
	// StartS3Endpoint starts the S3 server name (a plain name: lowercase
	// letters, digits, dashes) with one bucket and returns once it answers.
	// With node "" it belongs to no node and only Down stops it; with a node
	// name it is one of that node's processes: StopNode kills it with the
	// node, and StartNode starts it again on the same address and data and
	// returns once it answers. Starting a name that runs already returns it
	// unchanged (an error when node differs).
	StartS3Endpoint(ctx context.Context, name, node string) (S3Endpoint, error)
}

// S3Endpoint is a running S3 server and what a backup target needs to use it.
// Its String and LogValue leave the secret key out.
type S3Endpoint struct {
	Name string `json:"name"`
	Node string `json:"node,omitempty"` // "" when it belongs to no node
	// Endpoint is the server's base URL, http://127.0.0.N:port.
	Endpoint  string `json:"endpoint"`
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
	Bucket    string `json:"bucket"`
	Region    string `json:"region"`
}

// URL returns the backup-target URL of prefix in the endpoint's bucket,
// s3://bucket@region/prefix.
func (e S3Endpoint) URL(prefix string) string {
	return fmt.Sprintf("s3://%s@%s/%s", e.Bucket, e.Region, prefix)
}

// String describes the endpoint without its secret key.
func (e S3Endpoint) String() string {
	return fmt.Sprintf("S3 endpoint %s (node %q) at %s, bucket %s, region %s", e.Name, e.Node, e.Endpoint, e.Bucket, e.Region)
}

// LogValue keeps the secret key out of slog output.
func (e S3Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", e.Name), slog.String("node", e.Node),
		slog.String("endpoint", e.Endpoint), slog.String("bucket", e.Bucket))
}
