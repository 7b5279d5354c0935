// Package versitygw runs versitygw, a real POSIX-backed S3 gateway, as the S3 server behind
// backup targets: Find, Args, Env, NewClient, Ready and EnsureBucket serve any process starter
// (the local cluster driver runs them as node processes), and Start gives tests a throwaway
// server on loopback.
package versitygw

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Credentials and bucket of every server this package starts.
const (
	AccessKey = "faultline-test"
	SecretKey = "faultline-test-secret-key"
	Bucket    = "backups"
	Region    = "us-east-1"
)

// Path finds the versitygw binary (Find). It skips the test, saying why and
// how to install it, when there is none, so an S3 test never passes without
// running, and fails it when $FAULTLINE_VERSITYGW names a missing file.
func Path(tb testing.TB) string {
	tb.Helper()
	p, err := Find()
	if errors.Is(err, ErrNotFound) {
		tb.Skip("S3 tests skipped: " + err.Error())
	}
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Server is a versitygw process in POSIX mode over a temporary directory,
// listening on a loopback port.
type Server struct {
	tb     testing.TB
	bin    string
	root   string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	// Endpoint is the server's base URL, http://127.0.0.1:port.
	Endpoint string
}

// Start starts a server with the bucket Bucket; it is stopped when the
// test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Path(tb), root: tb.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	s.Endpoint = "http://" + s.addr
	s.Restart()
	tb.Cleanup(s.Stop)

	client, err := NewClient(s.Endpoint, AccessKey, SecretKey, Region)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := EnsureBucket(ctx, client, Bucket, Region); err != nil {
		tb.Fatalf("versitygw: %v", err)
	}
	return s
}

// Restart (re)starts the server on its address and waits until it accepts.
func (s *Server) Restart() {
	s.tb.Helper()
	logf, err := os.OpenFile(filepath.Join(s.tb.TempDir(), "versitygw.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd := exec.Command(s.bin, Args(s.addr, s.root, Region)...)
	cmd.Env = append(os.Environ(), Env(AccessKey, SecretKey)...)
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
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// URL is the target URL of the test bucket under prefix.
func (s *Server) URL(prefix string) string {
	return fmt.Sprintf("s3://%s@%s/%s", Bucket, Region, prefix)
}
