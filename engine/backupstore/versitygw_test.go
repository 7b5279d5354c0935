package backupstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Test credentials of the throwaway versitygw servers the tests start.
const (
	testAccessKey = "faultline-test"
	testSecretKey = "faultline-test-secret-key"
	testBucket    = "backups"
	testRegion    = "us-east-1"
)

// versitygwPath finds the versitygw binary: $FAULTLINE_VERSITYGW, then PATH,
// then $(go env GOPATH)/bin. It skips the test, saying why, when there is
// none: the S3 half of the suite must never pass without running.
func versitygwPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("FAULTLINE_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("FAULTLINE_VERSITYGW=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(string(trimNL(out))) {
			p := filepath.Join(dir, "bin", "versitygw")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	tb.Skip("S3 tests skipped: versitygw not found ($FAULTLINE_VERSITYGW, PATH, $(go env GOPATH)/bin); " +
		"install it with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	return ""
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// s3Server is a versitygw process in POSIX mode over a temporary directory,
// listening on a loopback port.
type s3Server struct {
	tb       testing.TB
	bin      string
	root     string
	addr     string
	cmd      *exec.Cmd
	exited   chan struct{}
	Endpoint string
}

// startS3 starts a server with a bucket testBucket; it is stopped when the
// test ends.
func startS3(tb testing.TB) *s3Server {
	tb.Helper()
	s := &s3Server{tb: tb, bin: versitygwPath(tb), root: tb.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	s.Endpoint = "http://" + s.addr
	s.Start()
	tb.Cleanup(s.Stop)

	client, err := minio.New(s.addr, &minio.Options{
		Creds:        credentials.NewStaticV4(testAccessKey, testSecretKey, ""),
		Region:       testRegion,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.MakeBucket(ctx, testBucket, minio.MakeBucketOptions{Region: testRegion}); err != nil {
		tb.Fatalf("versitygw: make bucket: %v", err)
	}
	return s
}

// Start (re)starts the server on its address and waits until it accepts.
func (s *s3Server) Start() {
	s.tb.Helper()
	logf, err := os.OpenFile(filepath.Join(s.tb.TempDir(), "versitygw.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--access", testAccessKey, "--secret", testSecretKey,
		"--region", testRegion, "--port", s.addr, "--quiet", "posix", s.root)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start versitygw: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(s.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exited:
			s.tb.Fatalf("versitygw exited at start (log in %s)", logf.Name())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.tb.Fatalf("versitygw did not listen on %s within 20 s", s.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server and waits for it; stopping twice is fine.
func (s *s3Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// URL is the target URL of the test bucket under prefix.
func (s *s3Server) URL(prefix string) string {
	return fmt.Sprintf("s3://%s@%s/%s", testBucket, testRegion, prefix)
}

// Cred is the credential for the test server.
func (s *s3Server) Cred() Credential {
	return Credential{AccessKey: testAccessKey, SecretKey: testSecretKey, Endpoint: s.Endpoint}
}
