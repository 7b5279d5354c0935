package bench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faultline/faultline/engine/backupstore"
)

// The S3 target's credentials, bucket and region: a throwaway server on
// loopback, so nothing here is a secret.
const (
	s3AccessKey = "refbench"
	s3SecretKey = "refbench-secret-key"
	s3Bucket    = "backups"
	s3Region    = "us-east-1"
)

// s3Server is a versitygw process in POSIX mode over a directory of the
// run, with one bucket.
type s3Server struct {
	proc     *process
	root     string // where versitygw keeps the objects
	endpoint string // http://127.0.0.1:port
	client   *minio.Client
}

// startVersitygw starts bin on a free loopback port over dir/root, waits
// until it accepts connections and creates the bucket. The server is
// stopped when the run ends.
func (e *env) startVersitygw(ctx context.Context, bin, dir string) (*s3Server, error) {
	root := filepath.Join(dir, "root")
	if err := mkdir(root); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p, err := startProcess("versitygw", filepath.Join(dir, "versitygw.log"), bin,
		"--access", s3AccessKey, "--secret", s3SecretKey, "--region", s3Region,
		"--port", addr, "--quiet", "posix", root)
	if err != nil {
		return nil, err
	}
	e.defer_(p.stop)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := p.waitReady(wctx, "listening on "+addr, dialable("tcp", addr)); err != nil {
		return nil, err
	}
	s := &s3Server{proc: p, root: root, endpoint: "http://" + addr}
	// The same client options as the backup store's S3 target, so the
	// baselines measure the transport the backups use.
	s.client, err = minio.New(addr, &minio.Options{
		Creds:        credentials.NewStaticV4(s3AccessKey, s3SecretKey, ""),
		Region:       s3Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   3,
	})
	if err != nil {
		return nil, fmt.Errorf("versitygw client: %w", err)
	}
	if err := s.client.MakeBucket(wctx, s3Bucket, minio.MakeBucketOptions{Region: s3Region}); err != nil {
		return nil, fmt.Errorf("versitygw: make bucket: %w (log: %s)", err, p.logTail())
	}
	return s, nil
}

// credential is what the backup store needs to reach the server.
func (s *s3Server) credential() backupstore.Credential {
	return backupstore.Credential{AccessKey: s3AccessKey, SecretKey: s3SecretKey, Endpoint: s.endpoint}
}
