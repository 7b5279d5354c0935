package versitygw

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestFindMissing(t *testing.T) {
	t.Setenv("FAULTLINE_VERSITYGW", filepath.Join(t.TempDir(), "nope"))
	if _, err := Find(); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing $FAULTLINE_VERSITYGW gave %v, want a misconfiguration error", err)
	}
	if !strings.Contains(ErrNotFound.Error(), InstallCommand) {
		t.Fatalf("ErrNotFound does not say how to install: %v", ErrNotFound)
	}
}

func TestNewCredentials(t *testing.T) {
	a1, s1, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	a2, s2, _ := NewCredentials()
	if a1 == a2 || s1 == s2 || len(a1) != 20 || len(s1) != 40 {
		t.Fatalf("credentials not random or wrong length: %q/%q, %q/%q", a1, s1, a2, s2)
	}
}

// A server started from Args and Env takes the credentials from the
// environment (not the command line), keeps its bucket across a restart
// over the same root, and refuses a wrong secret.
func TestArgsEnvServer(t *testing.T) {
	bin := Path(t)
	access, secret, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	args := Args(freeAddr(t), t.TempDir(), Region)
	if strings.Contains(strings.Join(args, " "), secret) {
		t.Fatal("secret on the command line")
	}
	addr := args[3]
	endpoint := "http://" + addr
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), Env(access, secret)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	c, err := NewClient(endpoint, access, secret, Region)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := start()
	waitReady(ctx, t, c)
	for range 2 { // idempotent
		if err := EnsureBucket(ctx, c, Bucket, Region); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutObject(ctx, Bucket, "k", bytes.NewReader([]byte("v")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := Ready(ctx, c); err == nil {
		t.Fatal("killed server still answers")
	}
	start()
	waitReady(ctx, t, c)
	obj, err := c.GetObject(ctx, Bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(obj); err != nil || string(b) != "v" {
		t.Fatalf("object after restart: %q, %v", b, err)
	}
	bad, _ := NewClient(endpoint, access, "wrong-secret-wrong-secret-wrong-secret00", Region)
	if err := Ready(ctx, bad); err == nil {
		t.Fatal("wrong secret accepted")
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(ctx context.Context, t *testing.T, c *minio.Client) {
	t.Helper()
	for {
		err := Ready(ctx, c)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server not ready: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
